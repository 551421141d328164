"""Hypothesis fuzzing of template expansion (issue 33 items 2 and 7): generated architecture files whose
templates use each other (cycles and deep chains included), hold lists, take `$param` expressions (valid and
token soup) and nest `repeat`s, and mutated bytes of such a file. Each must load or give a ConfigError with a
message, never another exception, within a memory bound; a file that loads reads back from its resolved
configuration as the same network.

Fixed seed (`derandomize`), small counts; `INCEPTION_KERAS_FUZZ_EXAMPLES=2000` runs more (docs/reliability.md)."""
from __future__ import annotations

import contextlib
import os
import tracemalloc

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inception_keras.errors import ConfigError
from inception_keras.lang import parse, templates
from inception_keras.lang.parse import load_arch

EXAMPLES = int(os.environ.get("INCEPTION_KERAS_FUZZ_EXAMPLES", "30"))
CAP = 2_000  # MAX_LAYERS while fuzzing: the cap is exercised, and no example spends seconds building layers
FUZZ = settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
MEMORY = 64 << 20  # tracemalloc's peak while one generated file is read

NAMES = ["t0", "t1", "t2", "t3"]
PARAMS = ["a", "b", "c"]
TOKENS = ["$a", "$b", "$c", "$d", "1", "2", "0", "-", "+", "*", "//", "/", "(", ")", " ", "**", "x", "$"]

good = st.one_of(st.integers(1, 6), st.sampled_from(["$a", "$b * 2", "$a // $b", "($a + $c) * 2", "-$a + 9"]))
hostile = st.one_of(st.integers(-3, 40), st.sampled_from([None, 2.5, True, "x", [1, 3], 10 ** 20, "$c - $c",
                                                          "$a // ($b - $b)"]),
                    st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join))
expressions = st.one_of(good, hostile)
values = st.one_of(good, good, good, good, good, hostile)  # mostly valid, so that many files load and expand


def uses(children):
    """A use of a template: its parameters, maybe a name and a repeat."""
    return st.builds(lambda t, ps, rep, name: {t: {**ps, **rep, **name}},
                     st.sampled_from(NAMES), st.dictionaries(st.sampled_from(PARAMS + ["zz"]), values, max_size=3),
                     st.one_of(st.just({}), st.just({}), st.builds(lambda r: {"repeat": r},
                                                                   st.one_of(st.integers(1, 3), st.integers(0, 1000),
                                                                             expressions))),
                     st.one_of(st.just({}), st.builds(lambda n: {"name": n}, st.sampled_from(["u", "v", "$a"]))))


convs = st.builds(lambda f, k: {"conv": {"filters": f, "kernel": k}}, values, st.one_of(st.just(1), values))
items = st.recursive(st.one_of(convs, convs, uses(None), st.just("maxpool")),
                     lambda inner: st.builds(lambda bs: {"branch": {"branches": bs}},
                                             st.lists(st.lists(inner, max_size=3), min_size=1, max_size=3)),
                     max_leaves=6)
layer_lists = st.lists(items, min_size=1, max_size=4)
bodies = st.one_of(
    st.builds(lambda it: {"layer": it}, st.one_of(convs, st.builds(lambda bs: {"branch": {"branches": bs}},
                                                                   st.lists(layer_lists, min_size=1, max_size=3)))),
    st.builds(lambda ls: {"layers": ls}, layer_lists),
)
params = st.builds(lambda extra: {"a": 2, "b": 1, "c": 3, **extra},
                   st.dictionaries(st.sampled_from(PARAMS + ["d"]), st.one_of(st.integers(1, 4), values), max_size=2))
declared = st.dictionaries(st.sampled_from(NAMES), st.builds(lambda b, ps: {**b, "params": ps}, bodies, params),
                            min_size=1, max_size=4)


def arch(tpls: dict, stage: list) -> str:
    return yaml.safe_dump({"name": "fuzz", "input": [8, 8, 3], "classes": 2, "templates": tpls,
                           "stages": {"s": stage, "head": ["global_avgpool", {"dense": {}}]}}, sort_keys=False)


@contextlib.contextmanager
def small_cap():
    saved = templates.MAX_LAYERS
    parse.MAX_LAYERS = templates.MAX_LAYERS = CAP
    try:
        yield
    finally:
        parse.MAX_LAYERS = templates.MAX_LAYERS = saved


def loads_or_refuses(text: str) -> None:
    with small_cap():
        _loads_or_refuses(text)


def _loads_or_refuses(text: str) -> None:
    tracemalloc.start()
    try:
        spec = load_arch("fuzz.yaml", text)
    except ConfigError as e:
        lines = str(e).splitlines()
        assert lines and lines[0].strip() and "Traceback" not in str(e)
        return
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < MEMORY, f"{peak:,} bytes"
    again = load_arch("config.yaml", yaml.safe_dump(spec.config, sort_keys=False))
    assert again.stages == spec.stages and [r.name for r in again.rows] == [r.name for r in spec.rows]


@FUZZ
@given(declared, st.lists(st.one_of(uses(None), convs), min_size=1, max_size=4))
def test_generated_template_files_load_or_refuse(tpls, stage):
    loads_or_refuses(arch(tpls, stage))


SEED = arch({"t0": {"params": {"a": 4, "b": 2}, "layers": [{"conv": {"filters": "$a * $b", "kernel": 1}},
                                                            {"t1": {"c": "$a // $b", "repeat": 3}}]},
             "t1": {"params": {"c": None}, "layer": {"branch": {"branches": [[{"conv": {"filters": "$c",
                                                                                        "kernel": 3}}], []]}}}},
            [{"t0": {"name": "u"}}, {"t0": {"a": 6, "repeat": 2}}])


@FUZZ
@given(st.data())
def test_mutated_template_files_load_or_refuse(data):
    text = bytearray(SEED.encode())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(text) - 1))
        op = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        if op == "flip":
            text[at] = data.draw(st.sampled_from(list(b"$()*/+-0123456789 :{}[]t,")))
        elif op == "insert":
            text[at:at] = data.draw(st.sampled_from([b"$a", b" * 1000", b"t0: {}", b"repeat: 1000", b"(", b"//0"]))
        else:
            del text[at:at + data.draw(st.integers(1, 6))]
    loads_or_refuses(text.decode("utf-8", "replace"))


def test_the_seed_loads():
    """The mutated file's seed is a valid network (so the mutations start from one)."""
    spec = load_arch("fuzz.yaml", SEED)
    assert [r.name for r in spec.rows][:3] == ["s.u.conv1", "u.t11_1", "u.t11_2"]
