"""Templates as a first-class part of the language (issue 32 item 6, issue 33 item 2): a derived file edits a
template use by its name and adds, replaces or changes templates by name; templates use templates (bounded
depth, cycles refused naming the chain) and may be lists; `$param` expressions compute integers without
`eval`; a network's layers are capped before a use is expanded; errors in a template's layer name the use,
and quoted values are cut short. No TensorFlow here."""
from __future__ import annotations

import os
import re
import time
import tracemalloc

import pytest
import yaml

from inception_keras.errors import ConfigError
from inception_keras.lang import expr, parse, templates
from inception_keras.lang.kinds import LAYER_KINDS
from inception_keras.lang.parse import load_arch
from inception_keras.lang.summary import render

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
V3 = os.path.join(ROOT, "arch", "inception_v3.yaml")

BASE = """name: t
input: [8, 8, 3]
classes: 2
templates:
{templates}
stages:
  s:
{uses}
    - global_avgpool
    - dense: {{}}
"""


def net(tpl: str, uses: str) -> str:
    return BASE.format(templates=tpl, uses=uses)


def errors(text: str, name: str = "t.yaml") -> list[str]:
    with pytest.raises(ConfigError) as e:
        load_arch(name, text)
    return [str(p) for p in e.value.problems]


def derived(tmp_path, text: str):
    path = tmp_path / "derived.yaml"
    path.write_text(f"extends: {V3}\nname: derived\n" + text)
    return load_arch(str(path))


def layer_total(data) -> int:
    """Layers in resolved YAML data (config.yaml's `arch`): every {kind: ...} item, nested ones too."""
    if isinstance(data, dict):
        own = 1 if len(data) == 1 and next(iter(data)) in LAYER_KINDS else 0
        return own + sum(layer_total(v) for v in data.values())
    if isinstance(data, list):
        return sum(1 if isinstance(v, str) and v in LAYER_KINDS else layer_total(v) for v in data)
    return 0


def block_b_params(c7: int, cin: int = 768) -> int:
    """keras.applications' InceptionV3 17x17 block: conv without bias + BatchNorm without gamma (beta, mean,
    variance: 3 per channel) for every conv, the 7x7 branches `c7` wide."""
    def conv(kh, kw, i, o):
        return kh * kw * i * o + 3 * o

    return (conv(1, 1, cin, 192)
            + conv(1, 1, cin, c7) + conv(1, 7, c7, c7) + conv(7, 1, c7, 192)
            + conv(1, 1, cin, c7) + conv(7, 1, c7, c7) + conv(1, 7, c7, c7) + conv(7, 1, c7, c7) + conv(1, 7, c7, 192)
            + conv(1, 1, cin, 192))


# ----------------------------------------------------------------------------- derived files


def test_derived_inception_v3_widens_one_block_by_name():
    """arch/inception_v3_wide_mixed5.yaml: mixed5's 7x7 branches 256 wide; exactly that block's parameters
    change, by what block_b's convolutions give, and the file's comment and `summary` say the same."""
    base = load_arch(V3)
    wide = load_arch(os.path.join(ROOT, "arch", "inception_v3_wide_mixed5.yaml"))
    assert {r.name: r.params + r.nontrainable for r in base.rows}["mixed5"] == block_b_params(160)
    rows, old = {r.name: r for r in wide.rows}, {r.name: r for r in base.rows}
    assert rows["mixed5"].params + rows["mixed5"].nontrainable == block_b_params(256)
    assert [n for n in rows if rows[n].params != old[n].params] == ["mixed5"]
    assert wide.params - base.params == block_b_params(256) - block_b_params(160)
    assert f"total: {wide.params:,} parameters" in render(wide)
    comment = open(os.path.join(ROOT, "arch", "inception_v3_wide_mixed5.yaml")).read()
    assert f"{wide.params:,} parameters, {wide.params - base.params:,} more" in comment


def test_a_use_is_renamed_removed_or_replaced_by_its_name(tmp_path):
    spec = derived(tmp_path, "stages:\n  mixed:\n    mixed5: {name: m5, c7: 192}\n    mixed6: null\n"
                             "    mixed9: {block_b: {name: b9, c7: 64}}\n")
    names = [r.name for r in spec.rows if r.kind == "branch"]
    assert "m5" in names and "mixed5" not in names and "mixed6" not in names
    assert names[names.index("mixed8") + 1] == "b9"
    assert {r.name: r.params + r.nontrainable for r in spec.rows}["b9"] == block_b_params(64, cin=1280)


def test_an_unnamed_use_is_named_by_its_template_and_count(tmp_path):
    (tmp_path / "base.yaml").write_text(net("  t:\n    params: {c: 2}\n    layer: {conv: {filters: $c, kernel: 1}}",
                                            "    - t: {}\n    - t: {}"))
    (tmp_path / "d.yaml").write_text("extends: base.yaml\nstages:\n  s:\n    t2: {c: 5}\n")
    rows = {r.name: r for r in load_arch(str(tmp_path / "d.yaml")).rows}
    assert rows["s.t1"].shape == (8, 8, 2) and rows["s.t2"].shape == (8, 8, 5)


def test_an_unknown_name_lists_the_uses(tmp_path):
    with pytest.raises(ConfigError) as e:
        derived(tmp_path, "stages:\n  mixed:\n    mixed55: {c7: 1}\n")
    assert "derived.yaml:5:5: stages.mixed.mixed55: no layer 'mixed55' in stage mixed of" in str(e.value)
    assert "(layers: mixed0, mixed1, mixed2, mixed3, mixed4, mixed5," in str(e.value)
    with pytest.raises(ConfigError) as e:
        derived(tmp_path, "stages:\n  mixed:\n    mixed5: {c8: 1}\n")
    assert ("derived.yaml:5:14: stages.mixed[5].block_b.c8: unknown parameter 'c8' of template 'block_b' (known: "
            "name, repeat, c7)") in str(e.value)


def test_derived_templates_add_replace_and_change_defaults(tmp_path):
    spec = derived(tmp_path, """templates:
  block_b: {params: {c7: 96}}                 # a default for the (required) c7
  block_c:                                   # replaced: mixed9 and mixed10 change
    layer: {branch: {branches: [[conv: {filters: 64, kernel: 1}], [avgpool: {size: 3, stride: 1}]]}}
  extra:                                     # added
    params: {f: 8}
    layer: {conv: {filters: $f * 4, kernel: 1}}
stages:
  mixed:
    mixed4: {block_b: {name: mixed4}}
    mixed10: {extra: {name: last}}
""")
    rows = {r.name: r for r in spec.rows}
    assert rows["mixed4"].params + rows["mixed4"].nontrainable == block_b_params(96)
    assert rows["mixed9"].shape == (8, 8, 64 + 1280)
    assert rows["mixed.last"].shape == (8, 8, 32)


# ----------------------------------------------------------------------------- nesting, lists, cycles

NESTED = """  unit:
    params: {c: null, k: [1, 3]}
    layer:
      branch:
        branches: [[conv: {filters: $c, kernel: $k}], [conv: {filters: $c // 2, kernel: 1}]]
  pair:
    params: {c: 4}
    layers:
      - conv: {filters: $c, kernel: 3}
      - unit: {c: $c * 2, k: [3, 1]}
      - branch: {branches: [[], [unit: {c: ($c + 2) * 3}]]}"""


def test_templates_use_templates_and_hold_lists():
    spec = load_arch("t.yaml", net(NESTED, "    - pair: {}\n    - pair: {name: p, c: 2, repeat: 2}"))
    rows = {r.name: r for r in spec.rows}
    assert rows["s.pair1.conv1"].shape == (8, 8, 4)
    assert rows["pair1.unit1"].shape == (8, 8, 8 + 4)  # c * 2 and (c * 2) // 2
    assert rows["pair1.unit1"].params == (3 * 4 * 8 + 8) + (4 * 4 + 4)  # kernel [3, 1]: the use's list
    assert rows["pair1.branch1"].shape == (8, 8, 12 + 18 + 9)  # identity + unit with c = (4 + 2) * 3
    assert [n for n in rows if n.startswith(("s.p_", "p_"))] == [
        "s.p_1.conv1", "p_1.unit1", "p_1.branch1", "s.p_2.conv1", "p_2.unit1", "p_2.branch1"]
    again = load_arch("config.yaml", yaml.safe_dump(spec.config, sort_keys=False))
    assert again.stages == spec.stages and [r.name for r in again.rows] == [r.name for r in spec.rows]


@pytest.mark.parametrize("tpl,use,chain,where", [
    ("  a:\n    layer: {branch: {branches: [[a: {}]]}}", "a", "a -> a", "t.yaml:6:34: templates.a.layer.branch."
                                                                    "branches[0][0].a"),
    ("  block_a:\n    layer: {branch: {branches: [[block_b: {}]]}}\n  block_b:\n    layer: {branch: {branches: "
     "[[conv: {filters: 2, kernel: 1}], [block_a: {}]]}}", "block_b", "block_a -> block_b -> block_a",
     "t.yaml:8:67: templates.block_b.layer.branch.branches[1][0].block_a"),
    ("  x:\n    layers: [y: {}]\n  y:\n    layers: [z: {}]\n  z:\n    params: {l: [x: {}]}\n    layers: "
     "[conv: {filters: 1, kernel: 1}]", "z", "x -> y -> z -> x", "t.yaml:10:18: templates.z.params.l[0].x"),
])
def test_a_cycle_is_one_error_naming_the_chain(tpl, use, chain, where):
    got = errors(net(tpl, f"    - {use}: {{}}\n    - {use}: {{}}"))
    assert got == [f"{where}: template cycle: {chain}: a template may not use itself, directly or through other "
                   f"templates"]


def chain_of(n: int) -> str:
    """n templates, each using the next (n levels of templates in one use of t0)."""
    out = [f"  t{i}:\n    layers: [t{i + 1}: {{}}]" for i in range(n - 1)]
    return "\n".join(out + [f"  t{n - 1}:\n    layers: [conv: {{filters: 2, kernel: 1}}]"])


def test_nesting_is_bounded():
    spec = load_arch("t.yaml", net(chain_of(templates.MAX_NESTING), "    - t0: {}"))
    assert spec.rows[0].name == "s.t01." + ".".join(f"t{i}1" for i in range(1, templates.MAX_NESTING)) + ".conv1"
    got = errors(net(chain_of(templates.MAX_NESTING + 1), "    - t0: {}"))
    assert len(got) == 1 and f"templates nested more than {templates.MAX_NESTING} deep" in got[0], got
    assert re.match(r"t\.yaml:\d+:\d+: templates\.t\d\.", got[0]), got


def test_nesting_through_a_value_given_at_the_use_is_bounded():
    """A template whose layers are a parameter: the use's value may use the template again, finitely; past
    MAX_NESTING levels it is refused at the use that went too deep."""
    tpl = "  w:\n    params: {inner: [[conv: {filters: 2, kernel: 1}]]}\n    layer: {branch: {branches: $inner}}"
    deep = "[[conv: {filters: 2, kernel: 1}]]"
    for _ in range(templates.MAX_NESTING):
        deep = f"[[w: {{inner: {deep}}}]]"
    got = errors(net(tpl, f"    - w: {{inner: {deep}}}"))
    assert len(got) == 1 and f"templates nested more than {templates.MAX_NESTING} deep: w -> w" in got[0], got
    # at the use's line: the value that went too deep is given there
    assert got[0].startswith("t.yaml:10:") and got[0].count("(as $inner") == 1, got
    spec = load_arch("t.yaml", net(tpl, "    - w: {inner: [[w: {inner: [[w: {}]]}]]}"))
    assert spec.rows[0].name == "s.w1" and spec.rows[0].shape == (8, 8, 2)


# ----------------------------------------------------------------------------- the layer cap

BOMB = """  inner:
    layer: {conv: {filters: 2, kernel: 1}}
  mid:
    layer: {branch: {branches: [[inner: {repeat: 1000}]]}}
  outer:
    layer: {branch: {branches: [[mid: {repeat: 1000}]]}}"""


def test_a_million_layers_are_refused_before_anything_is_built():
    """10^9 layers (three nested repeats of 1000): refused at the use, within a small memory bound (tracemalloc's
    peak: building them would take gigabytes); the seconds are measured in docs/reliability.md."""
    text = net(BOMB, "    - outer: {name: o, repeat: 1000}")
    tracemalloc.start()
    started = time.perf_counter()
    try:
        got = errors(text)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    print(f"refused in {time.perf_counter() - started:.3f} s, peak {peak / 2**20:.1f} MiB (tracemalloc)")
    assert got == [f"t.yaml:13:14: stages.s[0].outer: this use of template 'outer' makes more than "
                   f"{templates.MAX_LAYERS:,} layers (nested templates multiply their repeats); a network has at "
                   f"most {templates.MAX_LAYERS:,} layers, blocks and the layers inside them (0 before this use)"]
    assert peak < 8 << 20


@pytest.mark.parametrize("name", ["inception_v3", "inception_v4", "inception_resnet_v2", "googlenet"])
def test_the_cap_counts_exactly_what_is_built(monkeypatch, name):
    """With the cap set to a network's own layer count (counted on its resolved configuration) the network
    loads; one less is refused at the use or layer that crosses it."""
    spec = load_arch(os.path.join(ROOT, "arch", f"{name}.yaml"))
    total = layer_total(spec.config["stages"]) + layer_total(spec.config.get("aux_heads") or {})
    for module in (templates, parse):
        monkeypatch.setattr(module, "MAX_LAYERS", total)
    assert load_arch(os.path.join(ROOT, "arch", f"{name}.yaml")).params == spec.params
    for module in (templates, parse):
        monkeypatch.setattr(module, "MAX_LAYERS", total - 1)
    with pytest.raises(ConfigError) as e:
        load_arch(os.path.join(ROOT, "arch", f"{name}.yaml"))
    assert f"at most {total - 1:,} layers" in str(e.value) and len(e.value.problems) == 1


# ----------------------------------------------------------------------------- docs/yaml.md

DOCS = os.path.join(ROOT, "docs", "yaml.md")


def yaml_block_after(text: str, marker: str) -> str:
    start = text.index("```yaml\n", text.index(marker)) + len("```yaml\n")
    return text[start:text.index("```", start)]


def test_the_documented_nesting_example_makes_what_its_comments_say():
    block = yaml_block_after(open(DOCS).read(), "## Templates: arithmetic, nesting, lists, limits")
    spec = load_arch("t.yaml", "name: t\ninput: [8, 8, 3]\nclasses: 2\n" + block + "    - global_avgpool\n"
                                                                                "    - dense: {}\n")
    rows = {r.name: r for r in spec.rows}
    comment = block[block.index("# pair1.conv1"):].splitlines()[0]
    for name, sizes in re.findall(r"(pair1\.\w+) \(([\d + ]+)\)", comment):
        full = name if name in rows else f"s.{name}"
        assert rows[full].shape[-1] == sum(int(n) for n in sizes.split("+")), (name, rows[full])
    assert len(re.findall(r"pair1\.\w+ \(", comment)) == 3


def test_the_documented_derived_file_is_the_arch_file():
    block = yaml_block_after(open(DOCS).read(), "## Editing templates in a derived file")
    arch = open(os.path.join(ROOT, "arch", "inception_v3_wide_mixed5.yaml")).read()
    assert block == "".join(line for line in arch.splitlines(True) if not line.startswith("#"))
    wide, base = load_arch(os.path.join(ROOT, "arch", "inception_v3_wide_mixed5.yaml")), load_arch(V3)
    text = open(DOCS).read()
    assert f"checks its {wide.params:,} parameters" in text and f"{wide.params - base.params:,} more" in text


def test_the_documented_limits_are_the_code_s():
    text = " ".join(open(DOCS).read().split())
    assert f"templates nest at most {templates.MAX_NESTING} deep (`MAX_NESTING`" in text
    assert f"a network has at most {templates.MAX_LAYERS:,} layers" in text
    assert f"at most {expr.MAX_CHARS} characters and {expr.MAX_PARENS} levels of parentheses" in text
    assert expr.MAX_MAGNITUDE == 10 ** 12 and "may pass 10^12" in text
    spec = load_arch(os.path.join(ROOT, "arch", "inception_resnet_v2.yaml"))
    assert f"InceptionResNetV2 has {layer_total(spec.config['stages'])})" in text
