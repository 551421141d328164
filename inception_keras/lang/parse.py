"""Architecture YAML -> `ArchSpec`: every key, type and size checked, every layer resolved.

`load_arch(path)` reads an architecture file (following `extends:`, see `compose`), and `parse_arch`
checks it: the top level, `defaults` (global and per kind), every stage's layers (`kinds`) and the
auxiliary heads, then follows the feature map through the network (`walk`). Layers come out fully
resolved (defaults applied, names given, channels scaled by `width`). All mistakes of a file are reported
at once, as a `ConfigError` naming file, YAML path and line.
"""
from __future__ import annotations

import copy
from typing import Any

from inception_keras.errors import ConfigError, Problem, clip
from inception_keras.lang.arch import ArchFile, ArchSpec, AuxHead, Defaults, Normalize, Stage
from inception_keras.lang.checks import check_mapping, check_value, describe, did_you_mean, raise_if
from inception_keras.lang.compose import load_arch_document
from inception_keras.lang.geometry import shape_text
from inception_keras.lang.items import local_names, split_item, template_used
from inception_keras.lang.kinds import LAYER_KINDS, Layer
from inception_keras.lang.options import Option, options, to_plain
from inception_keras.lang.reader import Document, format_path
from inception_keras.lang.templates import (
    MAX_LAYERS,
    MAX_NESTING,
    TooMany,
    check_use,
    declared_templates,
    fill,
    layer_count,
)
from inception_keras.lang.walk import analyze


def load_arch(path: str, text: str | None = None, sets: list[tuple[str, Any]] | None = None) -> ArchSpec:
    """Read, check and resolve an architecture YAML. Raises ConfigError naming file, YAML path and line.

    `sets` are overrides [(dotted key, value)] applied to the file's data (after `extends`) before it is
    checked.
    """
    return parse_arch(load_arch_document(path, text, sets))


def parse_arch(doc: Document) -> ArchSpec:
    """Check an architecture document (what `load_arch` reads) and resolve it into an `ArchSpec`."""
    problems: list[Problem] = []
    top = _top(doc, problems)
    parser = _Parser(doc, problems, top)
    if "stages" not in top or parser.defaults is None:
        raise ConfigError(problems)
    stages = parser.stages(top["stages"])
    heads = [h for hname, value in (top.get("aux_heads") or {}).items()
             if (h := parser.aux_head(hname, value)) is not None]
    normalize = _normalize(doc, problems, top)
    raise_if(problems)
    return analyze(_spec(doc, top, parser, stages, heads, normalize), doc)


def _top(doc: Document, problems: list) -> dict:
    """The top-level keys, checked (a file that is no mapping, or a bad top level, stops here)."""
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), f"an architecture file is a mapping with keys name, input, classes, "
                                           f"stages; got {describe(doc.data)}")])
    top = check_mapping(doc, problems, options(ArchFile), doc.data, (), "the architecture")
    if top is None:
        raise ConfigError(problems)
    return top


def _spec(doc: Document, top: dict, parser: _Parser, stages: list, heads: list,
          normalize: Normalize | None) -> ArchSpec:
    """The spec before the feature-map walk, with its resolved configuration (config.yaml's `arch`)."""
    config = {"name": top["name"], "input": list(top["input"]), "classes": top["classes"], "width": top["width"],
              "defaults": dict(parser.defaults), "stages": parser.config_stages}
    if heads:
        config["aux_heads"] = parser.config_heads
    if normalize is not None:
        config["normalize"] = to_plain(normalize)
    return ArchSpec(name=top["name"], input=top["input"], classes=top["classes"], defaults=parser.defaults,
                    stages=tuple(stages), aux_heads=tuple(heads), width=top["width"], source=doc.file,
                    normalize=normalize, config=config)


def _normalize(doc: Document, problems: list, top: dict) -> Normalize | None:
    """`normalize`, checked: as many values as the input has channels (or one), std > 0."""
    if top.get("normalize") is None:
        return None
    path = ("normalize",)
    values = check_mapping(doc, problems, options(Normalize), top["normalize"], path, "normalize")
    if values is None or len(values) < len(options(Normalize)):
        return None
    channels = top["input"][2] if "input" in top else None
    ok = True
    for key in ("mean", "std"):
        n = len(values[key])
        if channels is not None and n not in (1, channels):
            plural = "s" if channels != 1 else ""
            problems.append(doc.problem(path + (key,), f"{n} values for an input of {channels} channel{plural} "
                                                       f"(input: {shape_text(top['input'])}); give one per channel, "
                                                       f"or one for all"))
            ok = False
    if any(v <= 0 for v in values["std"]):
        problems.append(doc.problem(path + ("std",), f"expected numbers > 0, got {list(values['std'])}"))
        ok = False
    return Normalize(**values) if ok else None


class _Parser:
    """Turns the checked top level into layers; records every layer's resolved keys for config.yaml."""

    # per-kind defaults: every layer kind whose name is no global default (batch_norm is a global switch),
    # and the auxiliary heads
    PER_KIND = tuple(k for k in (*LAYER_KINDS, "aux_head") if k not in {o.key for o in options(Defaults)})

    def __init__(self, doc: Document, problems: list, top: dict):
        self.doc, self.problems = doc, problems
        given = doc.data.get("classes") is not None  # a bad value (reported already) is no backbone
        self.classes, self.width = top.get("classes", 1 if given else None), top.get("width", 1.0)
        self.names: dict[str, tuple] = {}  # full layer name -> YAML path that made it
        self.config_stages: dict = {}  # resolved keys of every layer, for config.yaml
        self.config_heads: dict = {}
        self.defaults, self.per_kind = self._defaults(top.get("defaults"))
        given = top.get("templates")
        self.template_names = set(given) if isinstance(given, dict) else set()  # declared, good or bad
        self.templates = declared_templates(doc, problems, given)
        self.expanding: list[str] = []  # the templates being expanded, outermost first
        self.count = 0  # layers made so far (blocks and the layers inside them)

    def _defaults(self, value) -> tuple[dict | None, dict]:
        doc, path = self.doc, ("defaults",)
        value = {} if value is None else value
        globals_ = {k: v for k, v in value.items() if k not in self.PER_KIND}
        known = [o.key for o in options(Defaults)] + list(self.PER_KIND)
        for key in globals_:
            if key not in {o.key for o in options(Defaults)}:
                self.problems.append(doc.problem(path + (key,), f"unknown key '{clip(str(key))}' in defaults"
                                                 f"{did_you_mean(key, known)} (known: {', '.join(known)})", key=True))
        plain = {k: v for k, v in globals_.items() if k in {o.key for o in options(Defaults)}}
        defaults = check_mapping(doc, self.problems, options(Defaults), plain, path, "defaults")
        per_kind = {}
        for kind in self.PER_KIND:
            if kind in value:
                opts = [o for o in (options(AuxHead) if kind == "aux_head" else options(LAYER_KINDS[kind]))
                        if o.key != "name"]
                per_kind[kind] = check_mapping(doc, self.problems, opts, value[kind], path + (kind,),
                                               f"defaults for {kind}", required=False) or {}
        return defaults, per_kind

    def stages(self, stages: dict) -> list[Stage]:
        """Every stage's layers; a stage's resolved keys go into `config_stages`."""
        doc, out = self.doc, []
        if not stages:
            self.problems.append(doc.problem(("stages",), "no stages: declare at least one stage with layers"))
        for sname, layers in stages.items():
            spath = ("stages", sname)
            message = check_value(Option("name", ""), sname)[1]
            if message:
                self.problems.append(doc.problem(spath, f"stage name: {message}", key=True))
            layers, self.config_stages[sname] = self.layers(sname, layers, spath)
            out.append(Stage(sname, layers))
        return out

    def layers(self, owner: str, items: Any, path: tuple, empty_ok: bool = False,
               prefix: str = "") -> tuple[tuple, list]:
        """The layers of a stage, head or branch, and their resolved keys as YAML data (for config.yaml).
        `prefix`: the layers a list template's use makes, named `<prefix>.<name>` (`pair1.conv2`)."""
        doc, problems = self.doc, self.problems
        if not isinstance(items, list):
            problems.append(doc.problem(path, f"expected a list of layers (`- conv: {{...}}`), got {describe(items)}"))
            return (), []
        if not items and not empty_ok:
            problems.append(doc.problem(path, "empty: a stage needs at least one layer"))
        out, plain = [], []
        for i, (item, local) in enumerate(zip(items, local_names(items, self.template_names))):
            if prefix:
                local = f"{prefix}.{local}"
                item = self._named(item, local)
            kind, value = split_item(item)
            tname = template_used(item, self.template_names) if kind is None else None
            if tname is not None:  # a use of a template (one with a mistake, reported already, makes nothing)
                made = self.template_use(tname, item[tname], path + (i, tname), owner, local) \
                    if tname in self.templates else []
            elif kind is None:
                self._not_a_layer(item, path + (i,))
                continue
            else:
                made = self.layer(kind, value, path + (i, kind) if isinstance(item, dict) else path + (i,), owner,
                                  local)
                made = [(kind, *made)] if made is not None else []
            out += [m[1] for m in made]
            plain += [{m[0]: m[2]} for m in made]
        return tuple(out), plain

    def template_use(self, tname: str, value: Any, path: tuple, owner: str, local: str) -> list:
        """The layers a template use makes: [(kind, layer, resolved keys)], `repeat` of them."""
        tpl = self.templates[tname]
        use = check_use(self.doc, self.problems, tpl, value, path)
        if use is None or not tpl.ok or not self._within_bounds(tname, use, path):
            return []
        made = fill(self.doc, self.problems, tpl, use, path)
        if made is None:
            return []
        data, at = made
        out = []
        self.expanding.append(tname)
        for k in range(1, use.repeat + 1):
            name = use.name if use.repeat == 1 else f"{use.name or local}_{k}"
            value = copy.deepcopy(data)
            if not tpl.kind:  # a list of layers, named `<use name>.<name>`
                layers, plain = self.layers(owner, value, at, True, name or local)
                out += [(next(iter(p)), la, next(iter(p.values()))) for la, p in zip(layers, plain)]
                continue
            if name is None and LAYER_KINDS[tpl.kind].BLOCK:  # named by its place, written out so that the
                name = local = f"{owner}.{local}"  # resolved configuration names it alike when read back
            if name is not None and isinstance(value, dict):
                value = {**value, "name": name}
            layer = self.layer(tpl.kind, value, at, owner, name or local)
            if layer is not None:
                out.append((tpl.kind, *layer))
        self.expanding.pop()
        return out

    def _within_bounds(self, tname: str, use, path: tuple) -> bool:
        """A use nests templates at most MAX_NESTING deep, and the network stays within MAX_LAYERS layers
        (counted for the outermost use, before anything of it is built)."""
        chain = self.expanding + [tname]
        if len(chain) > MAX_NESTING:
            self.problems.append(self.doc.problem(path, f"templates nested more than {MAX_NESTING} deep: "
                                                        f"{' -> '.join(chain)}"))
            return False
        if self.expanding:
            return True
        left = MAX_LAYERS - self.count
        try:
            n = use.repeat * layer_count(self.templates, self.templates[tname], use.values, left // use.repeat)
        except TooMany:
            n = None
        if n is not None and n <= left:
            return True
        makes = f"more than {left:,}" if n is None else f"{n:,}"
        self.problems.append(self.doc.problem(path, f"this use of template '{tname}' makes {makes} layers (nested "
                                                    f"templates multiply their repeats); a network has at most "
                                                    f"{MAX_LAYERS:,} layers, blocks and the layers inside them "
                                                    f"({self.count:,} before this use)"))
        return False

    def _named(self, item: Any, name: str) -> Any:
        """A block or template use of a list template without a `name`, named (`pair1.branch1`), so that the
        resolved configuration names it alike when it is read back."""
        kind = split_item(item)[0]
        block = kind is not None and LAYER_KINDS[kind].BLOCK
        tname = template_used(item, self.templates)
        if (block or (tname is not None and self.templates[tname].kind)) and isinstance(item, dict):
            (key, value), = item.items()
            if value is None or (isinstance(value, dict) and value.get("name") is None):
                return {key: {**(value or {}), "name": name}}
        return item

    def _not_a_layer(self, item, path):
        doc, kinds = self.doc, LAYER_KINDS
        if isinstance(item, dict) and len(item) == 1:
            kind = next(iter(item))
            self.problems.append(doc.problem(path + (kind,), f"unknown layer kind '{clip(str(kind))}'"
                                                             f"{did_you_mean(kind, kinds)} (kinds: {', '.join(kinds)})",
                                             key=True))
        elif isinstance(item, dict):
            keys = ", ".join(map(str, item)) or "none"
            self.problems.append(doc.problem(path, f"a layer is one kind with its fields (`- conv: {{filters: 64, "
                                                   f"kernel: 1}}`), got keys: {keys} (is the indentation off?)"))
        else:
            hint = did_you_mean(item, kinds) if isinstance(item, str) else ""
            self.problems.append(doc.problem(path, f"expected a layer like `- conv: {{filters: 64, kernel: 1}}`, got "
                                                   f"{describe(item)}{hint}"))

    def layer(self, kind: str, value: Any, path: tuple, owner: str, local: str) -> tuple[Layer, dict] | None:
        cls = LAYER_KINDS[kind]
        doc, problems = self.doc, self.problems
        self.count += 1
        if self.count > MAX_LAYERS:  # counted before a template is expanded: only plain layers get here
            raise ConfigError([doc.problem(path, f"more than {MAX_LAYERS:,} layers; a network has at most "
                                                 f"{MAX_LAYERS:,} layers, blocks and the layers inside them")])
        values = check_mapping(doc, problems, options(cls), value, path, f"{kind} layer",
                               defaults=self.per_kind.get(kind))
        if values is None or len(values) < len(options(cls)):
            return None  # a bad or missing key, already reported
        for o in options(cls):
            if o.inherit and values[o.attr] is None and self.defaults is not None:
                values[o.attr] = self.defaults[o.inherit]
        name = values["name"] if cls.BLOCK and values.get("name") else f"{owner}.{local}"
        if name in self.names:
            what = "block" if cls.BLOCK else "layer"
            problems.append(doc.problem(path + (("name",) if values.get("name") else ()),
                                        f"duplicate {what} name '{clip(name)}' (also at "
                                        f"{format_path(self.names[name])})"))
        self.names[name] = path
        given = not cls.BLOCK or values.get("name")  # a block without a name is named by its place: keep it so
        plain = {o.key: ((local if given else None) if o.attr == "name" else _plain(values[o.attr]))
                 for o in options(cls)}
        self._nested(cls, values, plain, name, path)
        for o in options(cls):
            if o.channels and values[o.attr] is not None and self.width != 1.0:
                scaled = max(1, round(values[o.attr] * self.width))
                if o.maximum is not None and scaled > o.maximum:  # the cap holds after `width`, not only before
                    problems.append(doc.problem(path + (o.key,), f"{values[o.attr]:,} x width {self.width:g} = "
                                                                 f"{scaled:,}, more than {o.maximum:,}"))
                    return None
                values[o.attr] = scaled
        layer = cls(**{**values, "name": name}, path=path).resolved(self.classes)
        if getattr(layer, "units", 1) is None:
            problems.append(doc.problem(path, f"{kind} without `units` has `classes` units, but the network gives no "
                                              "`classes` (a backbone): give units, or classes"))
            return None
        for key, message in layer.problems():
            problems.append(doc.problem(path + (key,), message))
        return layer, plain

    def _nested(self, cls, values: dict, plain: dict, name: str, path: tuple) -> None:
        """A block's lists of layers (a branch's `branches`, `then`, `shortcut`) parsed as layers, in place."""
        for o in options(cls):
            if o.kind == "layers":
                values[o.attr], plain[o.key] = self.layers(f"{name}.{o.key}", list(values[o.attr]), path + (o.key,),
                                                               True)
            elif o.kind == "branches":
                parsed = [self.layers(f"{name}.{j + 1}", b, path + (o.key, j), True)
                          for j, b in enumerate(values[o.attr])]
                values[o.attr] = tuple(p[0] for p in parsed)
                plain[o.key] = [p[1] for p in parsed]

    def aux_head(self, hname: str, value: Any) -> AuxHead | None:
        doc, hpath = self.doc, ("aux_heads", hname)
        message = check_value(Option("name", ""), hname)[1]
        if message:
            self.problems.append(doc.problem(hpath, f"head name: {message}", key=True))
        head = check_mapping(doc, self.problems, [o for o in options(AuxHead) if o.key != "name"], value, hpath,
                             f"auxiliary head '{hname}'", defaults=self.per_kind.get("aux_head"))
        if head is None or "layers" not in head:
            return None
        given = isinstance(value, dict) and "layers" in value
        layers, plain = self.layers(hname, head["layers"], hpath + ("layers",) if given else
                                    ("defaults", "aux_head", "layers"))
        self.config_heads[hname] = {"after": head.get("after"), "loss_weight": head.get("loss_weight"),
                                    "layers": plain}
        return AuxHead(name=hname, after=head.get("after", ""), loss_weight=head.get("loss_weight", 0.3),
                       layers=layers)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value
