"""The course's MNIST models, exactly as the slides define them, and a Keras-like summary (labs 01, 02, 06)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class NetFF(nn.Module):
    """Week13 feed-forward net: 784-500-300-100-10 with tanh, log-probabilities out (lab 02)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 500)
        self.fc2 = nn.Linear(500, 300)
        self.fc3 = nn.Linear(300, 100)
        self.fc4 = nn.Linear(100, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, 784)                # (B, 1, 28, 28) -> (B, 784)
        x = torch.tanh(self.fc1(x))           # (B, 500)
        x = torch.tanh(self.fc2(x))           # (B, 300)
        x = torch.tanh(self.fc3(x))           # (B, 100)
        x = self.fc4(x)                       # (B, 10)
        return F.log_softmax(x, dim=1)


class NetCNN(nn.Module):
    """Week13 CNN: conv 1->20 5x5, pool 2, conv 20->50 5x5, pool 2, fc 800->500->10 (lab 02)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(4 * 4 * 50, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))             # (B, 20, 24, 24)
        x = F.max_pool2d(x, 2, 2)             # (B, 20, 12, 12)
        x = F.relu(self.conv2(x))             # (B, 50, 8, 8)
        x = F.max_pool2d(x, 2, 2)             # (B, 50, 4, 4)
        x = x.reshape(-1, 4 * 4 * 50)         # (B, 800)
        x = F.relu(self.fc1(x))               # (B, 500)
        x = self.fc2(x)                       # (B, 10)
        return F.log_softmax(x, dim=1)


class LeNet(nn.Module):
    """The slides' LeNet: NetCNN's layers with tanh activations (labs 01, 06).

    The slide returns raw scores; here it returns log-probabilities like every model in the kit,
    so the same ``F.nll_loss`` training loop serves all of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.fc1 = nn.Linear(800, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(torch.tanh(self.conv1(x)), 2)   # (B, 20, 12, 12)
        x = F.max_pool2d(torch.tanh(self.conv2(x)), 2)   # (B, 50, 4, 4)
        x = x.flatten(1)                                 # (B, 800)
        x = torch.tanh(self.fc1(x))                      # (B, 500)
        return F.log_softmax(self.fc2(x), dim=1)         # (B, 10)


class LeNetModified(nn.Module):
    """The training-tricks LeNet: BatchNorm, PReLU, Dropout(0.5) and Kaiming-uniform init (lab 06)."""

    def __init__(self, p_drop: float = 0.5) -> None:
        super().__init__()
        self.prelu = nn.PReLU()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.bn1 = nn.BatchNorm2d(20)
        self.conv2 = nn.Conv2d(20, 50, 5)
        self.bn2 = nn.BatchNorm2d(50)
        self.fc1 = nn.Linear(800, 500)
        self.bn3 = nn.BatchNorm1d(500)
        self.dropout1 = nn.Dropout(p=p_drop)
        self.fc2 = nn.Linear(500, 10)
        for layer in (self.conv1, self.conv2, self.fc1, self.fc2):  # Kaiming-uniform (fan_in), as on the slide
            nn.init.kaiming_uniform_(layer.weight, mode="fan_in")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.prelu(self.bn1(self.conv1(x))), 2)   # (B, 20, 12, 12)
        x = F.max_pool2d(self.prelu(self.bn2(self.conv2(x))), 2)   # (B, 50, 4, 4)
        x = x.flatten(1)                                            # (B, 800)
        x = self.dropout1(self.prelu(self.bn3(self.fc1(x))))        # (B, 500)
        return F.log_softmax(self.fc2(x), dim=1)                    # (B, 10)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (every lab that compares models)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_summary(model: nn.Module, input_size: tuple[int, ...], print_fn=print) -> int:
    """Print a Keras-like table (layer, output shape, parameters, totals); return the total (labs 01, 02).

    ``input_size`` excludes the batch dimension, e.g. ``(1, 28, 28)``. Layers are the leaf modules
    in the order they run; a module used twice (like a shared PReLU) is listed each time but its
    parameters are counted once.
    """
    if not input_size or not all(isinstance(d, int) and d > 0 for d in input_size):
        raise ValueError(f"input_size must be a tuple of positive ints without the batch "
                         f"dimension, e.g. (1, 28, 28); got {input_size!r}")
    rows, seen, handles = [], set(), []

    def hook(module: nn.Module, _inputs, output) -> None:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else "?"
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        name = next(n for n, m in model.named_modules() if m is module)
        rows.append((f"{name} ({type(module).__name__})", shape, sum(p.numel() for p in own)))

    for module in model.modules():
        if not list(module.children()):
            handles.append(module.register_forward_hook(hook))
    was_training = model.training
    device = next(model.parameters()).device if any(True for _ in model.parameters()) else "cpu"
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(2, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    total = count_parameters(model)
    trainable = count_parameters(model, trainable_only=True)
    width = max([len(r[0]) for r in rows] + [20]) + 2
    line = "=" * (width + 34)
    print_fn(f"{'Layer (type)':<{width}}{'Output Shape':<22}{'Param #':>12}")
    print_fn(line)
    for name, shape, n in rows:
        shape_text = str((None,) + shape[1:]) if isinstance(shape, tuple) else shape
        print_fn(f"{name:<{width}}{shape_text:<22}{n:>12,}")
    print_fn(line)
    print_fn(f"Total params: {total:,}\nTrainable params: {trainable:,}\n"
             f"Non-trainable params: {total - trainable:,}")
    return total
