"""Hidden tests of lab 07 (training tricks: momentum and AdaGrad steps by hand, a training loop with the momentum
step, Kaiming init, inverted dropout).

Instructor only: never released. Fresh random cases per submission; references run in the grader.

train_momentum (the training loop) is graded by behaviour (labkit/grading/training.py): a seeded MLP
(784 -> 32 -> 10, ``Layers(watch=True)``, handed over in evaluation mode) trains on real digits (``Loader``)
with the student's loop and with the reference, the same loop driven by ``torch.optim.SGD(momentum=beta)``
(the slide's V is -lr times its buffer, so both give the same weights); torch's RNG is seeded alike on both
sides. Parts: plain-number losses, training mode with autograd, the same loss at every batch (rtol 1e-4),
the same weights after it (atol 1e-5, rtol 1e-4, float32) and an outcome. When losses or weights differ, the
grader replays the known wrong loops on the same inputs and names the one the answer matches (no
zero_grad, velocities not carried from batch to batch or from epoch to epoch, the wrong sign, a summed loss,
the new values never written into the parameters). The outcome: 3 epochs on 2,000 training digits (batch 50,
lr 0.02, beta 0.9), then the trained weights must classify at least LOOP_ACCURACY = 70 % of 500 test digits.
The reference reached 81.2 to 86.6 % (median 84.4 %) over the grader's seeds 0-19
(``.venv/bin/python tests/labkit/grading/test_lab07_training.py`` prints it), a margin of 11 points below its
worst case. (The seeded weights, uniform in +-0.2, start far from PyTorch's default scale: this small budget
does not reach the 90 % of section 4.)
Dropout is random, so its answers are graded by their properties (share of zeros, rescaling, a new mask
per call, identity in evaluation), never against one draw. So is init_weights, whose answer is a side effect:
it gets large seeded torch layers (``Layers``: an nn.Linear, an nn.Conv2d, and modules it must leave alone),
they come back after the call (``report_args``) and their weights must be new, uniform within
+-sqrt(6 / fan_in) (kaiming_uniform_, mode='fan_in', a = 0) with mean 0 and standard deviation
sqrt(2 / fan_in), each within 6 standard errors of its sample size. Biases are not part of the exercise
(the slide re-initialises the weight only) and are not graded.
"""
import math

import numpy as np
import torch
import torch.nn.functional as F

from labkit.grading.codec import build_layers, decode, digits_loader, resolve_attrs, seed_everything
from labkit.grading.spec import Call, Exercise, Layers, Loader, Part, wire
from labkit.grading.training import mode_and_grad
from labkit.grading.verdict import as_array, describe, ignore_answer, kind, layer_states

LAB = "07_training_tricks"
PARAMETERS = {"SMOKE": True, "DATA_SOURCE": "offline"}
LIMITS = {"cell_timeout": 300, "notebook_timeout": 900, "call_timeout": 120}  # the training probes run 3 epochs


def _tensor(rng, shape, dtype=torch.float64, scale=1.0) -> torch.Tensor:
    return (scale * torch.from_numpy(rng.normal(size=shape))).to(dtype)


def _shape(rng) -> tuple:
    return tuple(int(n) for n in rng.integers(2, 7, size=int(rng.integers(1, 4))))


# ----------------------------------------------------------------------------- exercises 1 and 2
def _momentum_probes(rng):
    calls = []
    for case, dtype in enumerate([torch.float64, torch.float64, torch.float32, torch.float64]):
        shape = _shape(rng)
        lr, beta = round(float(rng.uniform(0.01, 0.5)), 3), round(float(rng.uniform(0.5, 0.99)), 3)
        beta = 0.0 if case == 3 else beta  # beta = 0: plain SGD
        V = torch.zeros(shape, dtype=dtype) if case == 0 else _tensor(rng, shape, dtype, 0.3)
        calls.append(Call((_tensor(rng, shape, dtype), V, _tensor(rng, shape, dtype), lr, beta),
                          label=f"tensors of shape {shape} ({dtype}), lr = {lr}, beta = {beta}"
                          + (", V = 0 (first step)" if case == 0 else ", V from earlier steps")))
    return calls


def _momentum_reference(W, V, grad, lr, beta):
    V = beta * V - lr * grad
    return W + V, V


def _adagrad_probes(rng):
    calls = []
    for case, (dtype, eps) in enumerate([(torch.float64, None), (torch.float64, 1e-10), (torch.float32, 1e-10),
                                         (torch.float64, 0.01)]):
        shape = _shape(rng)
        lr = round(float(rng.uniform(0.05, 1.0)), 3)
        n = torch.zeros(shape, dtype=dtype)  # cases 0 and 3: the first step (3: small gradients, eps matters)
        if case in (1, 2):
            n = sum(_tensor(rng, shape, dtype) ** 2 for _ in range(int(rng.integers(1, 6))))
        args = (_tensor(rng, shape, dtype), n, _tensor(rng, shape, dtype, 0.1 if case == 3 else 1.0), lr)
        calls.append(Call(args if eps is None else args + (eps,), label=f"tensors of shape {shape} ({dtype}), lr = "
                          f"{lr}, " + ("eps not given (default 1e-10)" if eps is None else f"eps = {eps:g}")
                          + (", n = 0 (first step)" if case in (0, 3) else ", n from earlier steps")))
    return calls


def _adagrad_reference(W, n, grad, lr, eps=1e-10):
    n = n + grad ** 2
    return W - lr * grad / torch.sqrt(n + eps), n


# ----------------------------------------------------------------------------- exercise 3 (training loop)
MLP = (("Flatten",), ("Linear", 784, 32), ("ReLU",), ("Linear", 32, 10), ("LogSoftmax", 1))
LOOP_ACCURACY = 70.0   # % of 500 test digits after the outcome probe; the reference's worst of 20 seeds: 81.2
LOOP_MISTAKES = {  # variant -> what the student is told when the answer matches it
    "no zero_grad": ("from the second batch on the gradients pile up: clear them (model.zero_grad()) before each "
                     "backward()"),
    "velocity per batch": ("the velocities start again from zero at every batch (that is plain SGD): create them once, "
                           "before the loops, and keep the V momentum_step returns"),
    "velocity per epoch": ("the velocities start again from zero at every epoch: create them once, before the loop "
                           "over the epochs"),
    "wrong sign": "the parameters moved uphill: the update must go against the gradient, as the slide's V does",
    "summed loss": "the steps are batch-size times too large: average the loss over the batch (F.nll_loss's default)",
}


def _loop_probes(rng):
    seed = int(rng.integers(2**31))
    lr, beta = round(float(rng.uniform(0.02, 0.1)), 3), round(float(rng.uniform(0.6, 0.95)), 2)
    calls = []
    for n, batch, epochs, b, label in [(64, 16, 1, beta, "one epoch of 4 batches"),
                                       (64, 32, 2, beta, "two epochs of 2 batches (the velocities carry over)"),
                                       (48, 16, 1, 0.0, "beta = 0 (plain SGD), 3 batches")]:
        model = Layers(MLP, seed + len(calls), watch=True, train=False)   # arrives in eval mode, as after a test
        calls.append(Call((model, Loader("train", n, batch, shuffle=True), epochs, lr, b, "cpu"),
                          label=f"{label}, lr={lr}, beta={b}", seed=seed + 10 + len(calls), collect=True))
    calls.append(Call((Layers(MLP, seed + 5, watch=True, train=False), Loader("train", 2000, 50, shuffle=True), 3,
                       0.02, 0.9, "cpu"), label="outcome: 3 epochs on 2,000 digits, lr=0.02, beta=0.9",
                      seed=seed + 20, collect=True))
    return calls


def _loop_reference(model, train_loader, num_epochs, lr, beta, device):
    """The loop with torch.optim.SGD(momentum=beta): the slide's momentum, with torch's buffer."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=beta)
    model.train()
    losses = []
    for _ in range(num_epochs):
        for X, y in train_loader:
            optimizer.zero_grad()
            loss = F.nll_loss(model(X.to(device)), y.to(device))
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def loop_variant(model, train_loader, num_epochs, lr, beta, device, mistake: str):
    """A known wrong loop (a key of LOOP_MISTAKES) with the slide's velocities, on the same inputs."""
    model.train()
    losses, velocities = [], None
    for epoch in range(num_epochs):
        if velocities is None or mistake == "velocity per epoch":
            velocities = [torch.zeros_like(p) for p in model.parameters()]
        for X, y in train_loader:
            if mistake == "velocity per batch":
                velocities = [torch.zeros_like(p) for p in model.parameters()]
            if mistake != "no zero_grad":
                model.zero_grad()
            loss = F.nll_loss(model(X), y, reduction="sum" if mistake == "summed loss" else "mean")
            loss.backward()
            with torch.no_grad():
                for i, p in enumerate(model.parameters()):
                    velocities[i] = beta * velocities[i] - lr * p.grad
                    p.add_(-velocities[i] if mistake == "wrong sign" else velocities[i])
            losses.append(loss.item())
    return losses, model


_VARIANTS: dict = {}


def _variants(call: Call) -> dict:
    """{mistake: (losses, state)} of every wrong loop on ``call``'s inputs (built as the grader builds them)."""
    key = (call.label, call.seed)
    if key not in _VARIANTS:
        if len(_VARIANTS) > 16:
            _VARIANTS.clear()
        found = {}
        for mistake in LOOP_MISTAKES:
            args = resolve_attrs(decode(wire(list(call.args))))
            seed_everything(call.seed)
            losses, model = loop_variant(*args, mistake=mistake)
            found[mistake] = (np.array(losses), {k: v.double().numpy() for k, v in model.state_dict().items()})
        _VARIANTS[key] = found
    return _VARIANTS[key]


def _record(enc) -> tuple[object, dict] | None:
    """(returned value, state after) of an encoded collect() record."""
    record = {k: v for k, v in enc["__map__"]} if kind(enc) == "dict" else {}
    if "returned" not in record:
        return None
    after = record["after"]["__seq__"][0]
    return record["returned"], {k: as_array(v) for k, v in after["__map__"]} if kind(after) == "dict" else {}


def _losses(enc) -> np.ndarray | str:
    if kind(enc) not in ("list", "tuple"):
        return f"return the list of the batches' losses; received {describe(enc)}"
    values = as_array(enc)
    return values.reshape(-1) if values is not None else f"the losses must be numbers; received {describe(enc)}"


def _loop_numbers(call, got, want) -> str | None:
    """Part: a list of plain numbers, one per batch."""
    found, theirs = _record(got), _record(want)
    if found is None:
        return "the answer could not be read"
    returned = found[0]
    if kind(returned) in ("list", "tuple") and any(kind(v) == "tensor" for v in returned["__seq__"]):
        return "the losses are tensors: append loss.item() (a Python number), not the loss tensor"
    losses = _losses(returned)
    if isinstance(losses, str):
        return losses
    count = len(theirs[0]["__seq__"])
    return None if losses.size == count else f"{losses.size} losses, expected {count}: one per batch, every epoch"


def _loop_losses(call, got, want) -> str | None:
    """Part: the same loss at every batch as the reference (rtol 1e-4), or the named mistake."""
    found, theirs = _record(got), _record(want)
    mine, reference = _losses(found[0]), _losses(theirs[0])
    if isinstance(mine, str):
        return mine
    if mine.shape == reference.shape and np.allclose(mine, reference, rtol=1e-4, atol=1e-6):
        return None
    for mistake, (losses, _) in _variants(call).items():
        if losses.shape == mine.shape and np.allclose(mine, losses, rtol=1e-4, atol=1e-6):
            return LOOP_MISTAKES[mistake]
    if mine.shape != reference.shape:
        return f"{mine.size} losses, expected {reference.size}"
    batch = int(np.argmax(~np.isclose(mine, reference, rtol=1e-4, atol=1e-6)))
    return (f"the loss of batch {batch + 1} is {mine[batch]:.6g}, expected {reference[batch]:.6g}: record "
            "loss.item() of every batch, after the forward pass on the current weights")


def _loop_weights(call, got, want) -> str | None:
    """Part: the weights after the loop equal the reference's, or the named mistake."""
    (_, mine), (_, theirs) = _record(got), _record(want)
    same = lambda a, b: set(a) == set(b) and all(  # noqa: E731
        a[k] is not None and a[k].shape == b[k].shape and np.allclose(a[k], b[k], atol=1e-5, rtol=1e-4) for k in b)
    if same(mine, theirs):
        return None
    layers = call.args[0]
    start = {k: v.double().numpy() for k, v in build_layers([list(x) for x in layers.spec], layers.seed).state_dict().items()}
    if same(mine, start):
        return ("the parameters never changed: write the new values into each parameter in place (p.copy_(...) "
                "inside torch.no_grad()); assigning to a name changes nothing in the model")
    for mistake, (_, state) in _variants(call).items():
        if same(mine, state):
            return LOOP_MISTAKES[mistake]
    return ("after your loop the weights differ from the reference's: after each backward(), every parameter moves "
            "by momentum_step with its own velocity and its .grad")


def _loop_outcome(call, got, want) -> str | None:
    """Part (outcome probe): the trained weights classify at least LOOP_ACCURACY % of 500 test digits."""
    (_, mine) = _record(got)
    layers = call.args[0]
    model = build_layers([list(x) for x in layers.spec], layers.seed)
    try:
        model.load_state_dict({k: torch.from_numpy(v).float() for k, v in mine.items()})
    except (RuntimeError, AttributeError, TypeError):
        return "the model's weights could not be read back"
    loader = digits_loader("test", 500, 500, False)
    with torch.no_grad():
        accuracy = 100.0 * float(sum(int((model.eval()(X).argmax(dim=1) == y).sum()) for X, y in loader)) / 500
    return None if accuracy >= LOOP_ACCURACY else (
        f"after 3 epochs your model classifies {accuracy:.1f} % of 500 test digits; at least {LOOP_ACCURACY:.0f} % "
        "expected")


LOOP_PARTS = (Part("losses as numbers", 0.5, _loop_numbers),
              Part("model.train()", 0.5, mode_and_grad(0, training=True, grad=True)),
              Part("same losses", 1.0, _loop_losses),
              Part("same weights", 1.0, _loop_weights),
              Part("outcome: test accuracy", 1.0, _loop_outcome, cases=("outcome",)))


# ----------------------------------------------------------------------------- exercise 4
def _init_probes(rng):
    """A big Linear and a Conv2d (fan_in far from fan_out), then modules init_weights must leave alone."""
    n_in, n_out = int(rng.integers(500, 900)), int(rng.integers(100, 250))
    c_in, c_out, k = int(rng.integers(6, 16)), int(rng.integers(40, 64)), int(rng.choice([3, 5]))
    width = int(rng.integers(64, 512))
    layers = [(("Linear", n_in, n_out), f"nn.Linear({n_in}, {n_out}): fan_in {n_in}"),
              (("Conv2d", c_in, c_out, k), f"nn.Conv2d({c_in}, {c_out}, {k}): fan_in {c_in} x {k} x {k} = "
               f"{c_in * k * k}"),
              (("Linear", n_out, n_in), f"nn.Linear({n_out}, {n_in}): fan_in {n_out}"),
              (("BatchNorm2d", c_out), f"nn.BatchNorm2d({c_out}) (must stay unchanged)"),
              (("BatchNorm1d", width), f"nn.BatchNorm1d({width}) (must stay unchanged)"),
              (("ReLU",), "nn.ReLU() (no parameters: model.apply calls init_weights on it too)")]
    return [Call((Layers((spec,), int(rng.integers(2**31))),), label=label, report_args=True)
            for spec, label in layers]


def _init_reference(m):
    """The slide's init_weights (the solution): only what the layers look like afterwards is graded."""
    if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
        torch.nn.init.kaiming_uniform_(m.weight, mode="fan_in")


def _init_properties(call: Call, response: dict) -> str | None:
    found = layer_states(call, response)
    if isinstance(found, str):
        return found
    before, after = found
    layer_type = call.args[0].spec[0][0]
    if layer_type not in ("Linear", "Conv2d"):
        changed = sorted(name for name in before if not np.array_equal(before[name], after[name]))
        return (f"{layer_type} was changed ({', '.join(changed)}): leave every module that is not an nn.Linear or "
                "an nn.Conv2d alone") if changed else None
    w, seeded = after["weight"], before["weight"]
    if np.array_equal(w, seeded):
        return ("the weight still holds its old values: re-initialise it in place with Kaiming's uniform "
                "initialisation (fan_in)")
    n, fan_in, fan_out = w.size, w[0].size, w.shape[0] * (w[0, 0].size if w.ndim > 2 else 1)
    bound = math.sqrt(6 / fan_in)       # kaiming_uniform_, a = 0: gain sqrt(2) times sqrt(3 / fan_in)
    std = bound / math.sqrt(3)          # a uniform on [-bound, bound]: = sqrt(2 / fan_in)
    w_max, w_mean, w_std = float(np.abs(w).max()), float(w.mean()), float(w.std())
    # 6 standard errors: mean sigma / sqrt(n); a uniform's sample std sigma sqrt(0.8 / (4 n)) (kurtosis 9/5);
    # max |w| of n uniform draws stays below (1 - 30 / n) * bound with probability (1 - 30 / n)**n ~ e^-30
    got = f"(received max |w| {w_max:.4f}, mean {w_mean:+.4f}, std {w_std:.4f})"
    want = f"(expected |w| <= {bound:.4f} = sqrt(6 / fan_in), fan_in = {fan_in}, mean ~0, std ~{std:.4f})"
    if abs(w_std - math.sqrt(6 / fan_out) / math.sqrt(3)) < 6 * math.sqrt(0.2 / n) * w_std:
        return f"the spread matches fan_out = {fan_out}, not fan_in {got} {want}"
    if w_max > bound * (1 + 1e-5):
        extra = " (kaiming_normal_ is not bounded: the slide uses kaiming_uniform_)" \
            if abs(w_std - std) < 0.05 * std else ""
        return f"some weights are outside +-sqrt(6 / fan_in){extra} {got} {want}"
    if abs(w_mean) > 6 * std / math.sqrt(n):
        return f"the weights are not centred on 0 {got} {want}"
    if abs(w_std - std) > 6 * math.sqrt(0.2 / n) * std:
        if abs(w_std - 1 / math.sqrt(3 * fan_in)) < 6 * math.sqrt(0.2 / n) * w_std:
            return (f"these look like PyTorch's default weights, uniform in +-1 / sqrt(fan_in): the slide's "
                    f"initialisation is wider {got} {want}")
        return f"the weights' spread is not Kaiming-uniform's {got} {want}"
    if w_max < (1 - 30 / n) * bound:
        return f"the weights do not fill the interval +-sqrt(6 / fan_in) like a uniform would {got} {want}"
    return None


# ----------------------------------------------------------------------------- exercise 5
def _nonzero(rng, shape) -> torch.Tensor:
    """float32 values of size 0.5 to 1.5 and random sign: a 0 in the answer can only come from the mask."""
    return torch.from_numpy((rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)).astype(np.float32))


def _dropout_probes(rng):
    small = _tensor(rng, _shape(rng), torch.float32)
    calls = [Call((small, round(float(rng.uniform(0.2, 0.8)), 2)), {"training": False},
                  label=f"training=False, X of shape {tuple(small.shape)}")]
    big = _nonzero(rng, (int(rng.integers(80, 150)), int(rng.integers(100, 200))))
    p_low, p_high = round(float(rng.uniform(0.15, 0.4)), 2), round(float(rng.uniform(0.6, 0.85)), 2)
    calls.append(Call((big, p_low, True), label=f"p = {p_low}, X of shape {tuple(big.shape)} (first of two calls)"))
    calls.append(Call((big, p_low, True), label=f"p = {p_low}, the same X again (a new random mask is expected)"))
    other = _nonzero(rng, (int(rng.integers(20, 40)), 16, int(rng.integers(20, 40))))
    calls.append(Call((other, p_high), label=f"p = {p_high}, X of shape {tuple(other.shape)}, training not given"))
    return calls


def _dropout_reference(X, p, training=True):
    return X if not training else X * (torch.rand_like(X) >= p).to(X.dtype) / (1 - p)


def _same_shape(got, want) -> str | None:
    g, w = as_array(got), as_array(want)
    if g is None:
        return f"expected {describe(want)}, received {describe(got)}"
    return None if g.shape == w.shape else f"expected shape {tuple(w.shape)}, received shape {tuple(g.shape)}"


_FIRST_MASKS: dict = {}  # id(X) -> (X, zero mask of the first call): the second call must draw a new one


def _dropout_properties(call: Call, response: dict) -> str | None:
    X, p = call.args[0], call.args[1]
    x, got = X.double().numpy(), as_array(response["value"])
    if not call.kwargs.get("training", call.args[2] if len(call.args) > 2 else True):
        return None if np.array_equal(got, x) else "with training=False, X must come back unchanged"
    zero = got == 0
    share, tolerance = float(zero.mean()), 6 * math.sqrt(p * (1 - p) / x.size) + 0.005
    if abs(share - p) > tolerance:
        return (f"{share:.1%} of the values were set to 0, expected about {p:.0%} (p is the probability of "
                "DROPPING a value)")
    scale = got[~zero] / x[~zero]
    if not np.allclose(scale, 1 / (1 - p), rtol=1e-5, atol=0):
        return f"kept values were multiplied by about {np.median(scale):.3f}, expected 1 / (1 - p) = {1 / (1 - p):.3f}"
    if len(_FIRST_MASKS) > 64:
        _FIRST_MASKS.clear()
    if "first of two" in call.label:
        _FIRST_MASKS[id(X)] = (X, zero)
    first = _FIRST_MASKS.pop(id(X), None) if "again" in call.label else None
    if first is not None and first[0] is X and np.array_equal(first[1], zero):
        return "the same values were dropped in two calls: draw a new random mask at every call"
    return None


# What each exercise asks students to write themselves (the run-time guard fails any call into these).
MOMENTUM_FORBIDDEN = ("torch.optim.SGD", "torch.optim.sgd.sgd", "torch.optim._functional.sgd",
                      "torch.optim.sgd._single_tensor_sgd", "torch.optim.sgd._multi_tensor_sgd",
                      "torch.optim.sgd._fused_sgd")
ADAGRAD_FORBIDDEN = ("torch.optim.Adagrad", "torch.optim.adagrad.adagrad", "torch.optim._functional.adagrad",
                     "torch.optim.adagrad._single_tensor_adagrad", "torch.optim.adagrad._multi_tensor_adagrad",
                     "torch.optim.adagrad._fused_adagrad")
DROPOUT_FORBIDDEN = ("torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
                     "torch.nn.functional.dropout3d", "torch.nn.Dropout", "torch.nn.Dropout1d", "torch.nn.Dropout2d",
                     "torch.nn.Dropout3d", "torch.dropout", "torch.dropout_",
                     "torch.feature_dropout", "torch.feature_dropout_", "torch.native_dropout", "torch._fused_dropout",
                     "torch.ops.aten.dropout", "torch.ops.aten.native_dropout")
# init_weights forbids nothing: the slide (and the exercise) fill the weight with nn.init.kaiming_uniform_.

EXERCISES = [
    Exercise("momentum_step", 2, "Follow the slide's order: first the new velocity, which keeps beta times the old "
             "one and moves against the gradient by lr times it; then move W by that NEW velocity. Return both new "
             "tensors (W, V); it must work for tensors of any shape.", _momentum_probes, _momentum_reference,
             forbidden=MOMENTUM_FORBIDDEN),
    Exercise("adagrad_step", 2, "First add the element-wise square of the gradient to the running sum n; then step "
             "against the gradient with lr divided by the square root of (the updated n plus eps), using the eps you "
             "are given, inside the root as on the slide. Return (W, n).", _adagrad_probes, _adagrad_reference,
             forbidden=ADAGRAD_FORBIDDEN),
    Exercise("train_momentum", 4, "Put the model in training mode and give every parameter its own velocity, zero, "
             "ONCE before the loops. For every batch: clear the old gradients, forward, the mean NLL loss, backward, "
             "then with autograd off move each parameter by your momentum_step with its .grad, writing the new "
             "values into the parameter in place and keeping the new velocity. Return every batch's loss.item().",
             _loop_probes, _loop_reference, parts=LOOP_PARTS, forbidden=MOMENTUM_FORBIDDEN,
             allowed=("labhelpers.data.TensorLoader",)),
    Exercise("init_weights", 2, "Act only when the module is an nn.Linear or an nn.Conv2d, and then re-initialise "
             "its weight in place with the slide's Kaiming (He) UNIFORM initialisation computed from fan_in (the "
             "inputs feeding one output unit: for a convolution, in_channels times the kernel area); every other "
             "module, with or without parameters, must pass through untouched.", _init_probes, _init_reference,
             compare=ignore_answer, verify=_init_properties),
    Exercise("dropout", 2, "With training=False give X back unchanged. When training, drop every value "
             "independently with probability p, with a fresh random mask at each call, and multiply the values you "
             "keep by 1 / (1 - p) so that the expected value stays the same.", _dropout_probes, _dropout_reference,
             compare=_same_shape, verify=_dropout_properties, forbidden=DROPOUT_FORBIDDEN),
]
