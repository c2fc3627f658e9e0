"""All layers, and (de)serialization of a layer by its class name."""
from multirnn.layers.base import Layer
from multirnn.layers.cells import GRUCell, LSTMCell, RecurrentCell, SimpleRNNCell, StackedRNNCells
from multirnn.layers.cudnn_recurrent import CuDNNGRU, CuDNNLSTM
from multirnn.layers.core import (ActivityRegularization, Activation, Dense, Dropout, Flatten, Permute,
                                  RepeatVector, Reshape)
from multirnn.layers.embeddings import Embedding
from multirnn.layers.highway import Highway, MaxoutDense
from multirnn.layers.input import Input, InputLayer
from multirnn.layers.lambdas import Lambda
from multirnn.layers.legacy_merge import Merge
from multirnn.layers.masking import Masking
from multirnn.layers.merge import (Add, Average, Concatenate, Dot, Maximum, MergeTensors, Minimum, Multiply,
                                   Subtract, add, average, concatenate, dot, maximum, merge, merge_mask,
                                   merge_output_shape, merge_tensors, minimum, multiply, subtract)
from multirnn.layers.recurrent import GRU, LSTM, Recurrent, SimpleRNN
from multirnn.layers.rnn import RNN
from multirnn.layers.registry import deserialize, register, serialize
from multirnn.layers.symbolic import SymbolicTensor
from multirnn.layers.wrappers import Bidirectional, TimeDistributed

for _cls in (Layer, Embedding, InputLayer, Masking, GRU, LSTM, SimpleRNN, Bidirectional, TimeDistributed, Merge,
             Dense, Activation, Dropout, Flatten, Reshape, Permute, RepeatVector, Lambda, ActivityRegularization,
             Highway, MaxoutDense, Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot,
             MergeTensors, RNN, SimpleRNNCell, GRUCell, LSTMCell, StackedRNNCells,
             CuDNNLSTM, CuDNNGRU):
    register(_cls)
