"""Reference code that several hidden specs share (grading/NN_*.py import it; never shipped to students)."""
from __future__ import annotations

import torch.nn as nn
import torch.nn.functional as F


def classifier_epoch(model: nn.Module, train_loader, optimizer, device) -> tuple[float, float]:
    """One epoch in the modes the caller set: per batch zero_grad, logits, mean cross-entropy, backward, step;
    returns (mean loss per image, fraction right on each batch before its step)."""
    total, correct, seen = 0.0, 0, 0
    for X, y in train_loader:
        X, y = X.to(device), y.to(device)
        optimizer.zero_grad()
        y_hat = model(X)                                   # (B, classes)
        loss = F.cross_entropy(y_hat, y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(y)
        correct += int((y_hat.argmax(dim=1) == y).sum())
        seen += len(y)
    return total / seen, correct / seen
