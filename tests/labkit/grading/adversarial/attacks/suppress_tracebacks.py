# Attack: hide every traceback, then fail everywhere.
import sys

from IPython.core.interactiveshell import InteractiveShell

InteractiveShell.showtraceback = lambda *args, **kwargs: None
InteractiveShell.showsyntaxerror = lambda *args, **kwargs: None
get_ipython().showtraceback = lambda *args, **kwargs: None
sys.excepthook = lambda *args: None


def output_size(n, k, p=0, s=1):
    raise ZeroDivisionError("nobody will see this")


def conv2d(X, kernel, pad, stride):
    return 1 / 0


max_pool2d = conv_params = lenet_shapes = conv2d
1 / 0
