"""Similarity (labkit.grading.similarity): a renamed copy is flagged, a pair sharing only the starter code is not,
earlier years' archives are compared too, and the report escapes what it shows."""
from __future__ import annotations

import json

from labkit.grading.similarity import find_pairs, function_sources, load_archives, similarity_html

STARTER = '''def conv2d(image, kernel, stride=1, padding=0):
    """Slide kernel over image (cross-correlation), with zero padding and a stride.

    image: (H, W) array; kernel: (k, k) array. Returns the (H_out, W_out) output.
    """
    image = np.pad(image, padding)
    k = kernel.shape[0]
    raise NotImplementedError("compute the output size, then the sums")
'''
STUB = '    raise NotImplementedError("compute the output size, then the sums")\n'
ORIGINAL = STARTER.replace(STUB, '''    rows = (image.shape[0] - k) // stride + 1
    cols = (image.shape[1] - k) // stride + 1
    result = np.zeros((rows, cols))
    for r in range(rows):
        for c in range(cols):
            window = image[r * stride:r * stride + k, c * stride:c * stride + k]
            result[r, c] = float((window * kernel).sum())
    return result
''')
RENAMED = STARTER.replace(STUB, '''    height = (image.shape[0] - k) // stride + 1   # my own comment
    width = (image.shape[1] - k) // stride + 1
    out = np.zeros((height, width))
    for i in range(height):
        for j in range(width):
            patch = image[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = float((patch * kernel).sum())
    return out
''')
OWN_WAY = STARTER.replace(STUB, '''    n_out = 1 + (len(image) - k) // stride
    m_out = 1 + (len(image[0]) - k) // stride
    acc = []
    for y in range(n_out):
        line = []
        for x in range(m_out):
            total = 0.0
            for dy in range(k):
                for dx in range(k):
                    total += image[y * stride + dy][x * stride + dx] * kernel[dy][dx]
            line.append(total)
        acc.append(line)
    return np.array(acc)
''')
VECTORISED = STARTER.replace(STUB, '''    from numpy.lib.stride_tricks import sliding_window_view
    views = sliding_window_view(image, (k, k))[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", views, kernel)
''')


def _class(**extra):
    return {"alice": {"conv2d": ORIGINAL}, "bob": {"conv2d": RENAMED}, "carol": {"conv2d": OWN_WAY},
            "dave": {"conv2d": VECTORISED}, "erin": {"conv2d": STARTER}, **extra}


def test_a_renamed_copy_is_flagged_and_starter_code_alone_is_not():
    pairs = find_pairs(_class(), {"conv2d": STARTER})
    assert [(p.a, p.b) for p in pairs] == [("alice", "bob")]
    assert pairs[0].similarity > 0.9


def test_without_subtracting_the_starter_code_the_stub_would_look_shared():
    flagged = {(p.a, p.b) for p in find_pairs(_class(), {}, threshold=0.3)}
    assert ("carol", "erin") in flagged or ("dave", "erin") in flagged or ("alice", "erin") in flagged


def test_function_sources_takes_the_last_definition_of_each_exercise():
    cells = ["def conv2d(a):\n    return 1\n", "%time x = 1\ndef conv2d(a, b):\n    return 2\n", "def other():\n    pass\n"]
    assert function_sources(cells, ["conv2d", "missing"]) == {"conv2d": "def conv2d(a, b):\n    return 2"}


def test_an_earlier_years_archive_is_compared(tmp_path):
    old = tmp_path / "2024"
    old.mkdir()
    (old / "frank.json").write_text(json.dumps({"name": "frank", "sources": {"conv2d": ORIGINAL}}))
    archive = load_archives([old], ["conv2d"])
    pairs = find_pairs({"bob": {"conv2d": RENAMED}, "carol": {"conv2d": OWN_WAY}}, {"conv2d": STARTER}, archive)
    assert [(p.a, p.b) for p in pairs] == [("archive 2024/frank", "bob")]


def test_the_report_shows_pairs_side_by_side_escaped_with_shared_code_marked():
    sources = _class(mallory={"conv2d": ORIGINAL.replace("result", "res_</pre><script>x()</script>")})
    pairs = find_pairs(sources, {"conv2d": STARTER})
    page = similarity_html(pairs, "01_<lab>", len(sources))
    assert "<script>" not in page and "&lt;script&gt;" in page and "01_&lt;lab&gt;" in page
    assert page.count("class='pair'") == len(pairs) >= 1 and "<mark>" in page
