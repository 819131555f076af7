# Attack: answers that claim to be equal to anything.
import numpy as np


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class EqualInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class EqualArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)


def output_size(n, k, p=0, s=1):
    return EqualInt(0)


def conv2d(X, kernel, pad, stride):
    return np.zeros((1, 1)).view(EqualArray)


def max_pool2d(X, pool_size, stride):
    return AlwaysEqual()


def conv_params(in_channels, out_channels, kernel_size, bias=True):
    return AlwaysEqual()


def lenet_shapes(n):
    return [AlwaysEqual()] * 6
