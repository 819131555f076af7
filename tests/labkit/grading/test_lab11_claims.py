"""Lab 11's module answers send back their tensors' names and shapes (labkit.grading.codec.module_probe); the
grader rebuilds those tensors to compare outputs. A module can claim any shape there (its state_dict() is the
student's code), so the grader must judge a claim before it allocates it (issue 11: a 100-byte claim once took the
grader from 875 MB to 4.7 GB)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lab_grader import LabGrader  # noqa: E402

LAB = "11_architectures_detection"
CLAIM = (200_000, 200_000)   # 40 billion weights: 160 GB if the grader allocated them


class Claims(nn.Module):
    """Its first state_dict() (the shapes the sandbox reports) claims CLAIM; later ones (the weight fill) hold
    nothing, so the sandbox itself never allocates the claim."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.calls = 0

    def state_dict(self, *args, **kwargs):
        self.calls += 1
        return {"claim.weight": torch.zeros(1).expand(*CLAIM)} if self.calls == 1 else {}

    def forward(self, x):
        return x


@pytest.mark.parametrize("exercise", ["BasicBlock", "Bottleneck", "Inception", "SEBlock"])
def test_a_huge_claimed_state_is_judged_before_it_is_allocated(exercise):
    result, parts = LabGrader(LAB, exercise).grade(Claims)
    assert result["points"] == 0, result
    detail = parts["output"]["detail"] if parts else result["detail"]   # SEBlock: its output part compares modules
    assert "40,000,000,000" in detail, detail   # the reason names the claim, not a failed allocation
