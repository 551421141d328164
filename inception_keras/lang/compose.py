"""`extends:`: an architecture file that modifies another one.

    extends: googlenet_paper.yaml     # a path relative to this file
    name: googlenet-bn
    defaults: {batch_norm: true, inception: {5x5_kernel: 3}}
    stages:
      b1: {lrn1: null}                # a layer by its name in the stage: null removes it
      b4: {maxpool1: {size: 2}}       # a mapping changes some of its keys
      b5: {avgpool1: {adaptive_avgpool: {output: 1}}}   # a layer of another kind replaces it
      head: [...]                     # a list replaces the whole stage

Top-level keys replace the base file's; `defaults` merge key by key (per-kind
defaults too); `stages` and `aux_heads` merge by name: a stage or head given as
a list (or a new one) replaces (or is appended), a mapping edits layers by
their names within the stage (`conv1`, `maxpool2`, an Inception block's name,
a template use's `name` or `<template><n>`), null removes. A template use is
edited like a layer: a mapping changes its parameters, `name` or `repeat`.
`templates` merge by name: a template with `layer` adds or replaces one, one
with only `params` changes the base's parameter defaults, null removes one.
A base file may extend another. Every value keeps the file and line it came
from, so a mistake is reported where it was written.
"""
from __future__ import annotations

import copy
import os

from inception_keras.errors import ConfigError, clip
from inception_keras.lang import catalog
from inception_keras.lang.checks import describe
from inception_keras.lang.items import local_names, split_item, template_used
from inception_keras.lang.kinds import LAYER_KINDS
from inception_keras.lang.options import options
from inception_keras.lang.overrides import apply
from inception_keras.lang.reader import Document, load_document
from inception_keras.lang.templates import USE_KEYS

WHAT = "architecture file"
MAX_DEPTH = 16


def load_arch_document(path: str, text: str | None = None, sets=None) -> Document:
    """Read an architecture file (or a shipped one by name: `catalog.resolve`), follow `extends:`, then apply
    `--set` overrides."""
    doc = _load(str(path) if text is not None else catalog.resolve(path, catalog.ARCH), text, ())
    return apply(doc, sets) if sets else doc


def _load(path: str, text: str | None, chain: tuple) -> Document:
    doc = load_document(path, text, what=WHAT)
    if not isinstance(doc.data, dict) or doc.data.get("extends") is None:
        return doc
    ref = doc.data["extends"]
    if not isinstance(ref, str) or not ref.strip():
        raise ConfigError([doc.problem(("extends",), f"expected the path of an architecture file, got "
                                                     f"{describe(ref)}")])
    base = ref if os.path.isabs(ref) else os.path.join(os.path.dirname(path), ref)
    here = os.path.realpath(path)
    if os.path.realpath(base) in chain + (here,):
        raise ConfigError([doc.problem(("extends",), f"{ref} extends this file again (a cycle)")])
    if len(chain) >= MAX_DEPTH:
        raise ConfigError([doc.problem(("extends",), f"more than {MAX_DEPTH} files extend each other")])
    if not os.path.isfile(base):
        raise ConfigError([doc.problem(("extends",), f"no architecture file {base}")])
    parent = _load(base, None, chain + (here,))
    if not isinstance(parent.data, dict):
        raise ConfigError([parent.problem((), f"an architecture file is a mapping, got {describe(parent.data)}")])
    return _Merge(parent, doc).result()


class _Merge:
    """The base document with the extending one's keys merged in, and every position carried along."""

    def __init__(self, parent: Document, child: Document):
        self.parent, self.child = parent, child
        self.marks: dict = {}
        self.key_marks: dict = {}
        self.files: dict = {}
        self.problems: list = []

    def mount(self, dst: tuple, src: Document, srcpath: tuple) -> None:
        """Positions of `src` below `srcpath` become the positions below `dst` (replacing what was there)."""
        self.clear(dst)
        n = len(srcpath)
        for table, out in ((src.marks, self.marks), (src.key_marks, self.key_marks)):
            for p, mark in table.items():
                if p[:n] == srcpath:
                    out[dst + p[n:]] = mark
                    self.files[dst + p[n:]] = src.files.get(p, src.file)

    def clear(self, dst: tuple) -> None:
        n = len(dst)
        for table in (self.marks, self.key_marks, self.files):
            for p in [p for p in table if p[:n] == dst and (n or p)]:
                del table[p]

    def result(self) -> Document:
        parent, child = self.parent, self.child
        data = copy.deepcopy(parent.data)
        data.pop("extends", None)
        self.mount((), parent, ())
        templates = child.data.get("templates")
        merged = isinstance(templates, dict) and isinstance(data.get("templates"), dict)
        if merged:  # before the stages, whose edits name template uses
            data["templates"] = self.templates(data["templates"], templates)
        known = data.get("templates") if merged or not isinstance(templates, dict) else templates
        self.known = known if isinstance(known, dict) else {}  # the templates the stages may use, by name
        for key, value in child.data.items():
            if key == "extends" or (key == "templates" and merged):
                continue
            if key == "defaults" and isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = self.defaults(data[key], value)
            elif key in ("stages", "aux_heads") and isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = self.named(data[key], value, (key,))
            else:
                data[key] = value
                self.mount((key,), child, (key,))
        for table, src in ((self.marks, child.marks), (self.key_marks, child.key_marks)):
            if () in src:
                table[()] = src[()]
        self.files[()] = child.file
        if self.problems:
            raise ConfigError(self.problems)
        return Document(child.file, data, self.marks, self.key_marks, files=self.files)

    def defaults(self, base: dict, changes: dict) -> dict:
        out = dict(base)
        for key, value in changes.items():
            path = ("defaults", key)
            if isinstance(value, dict) and isinstance(out.get(key), dict):  # a per-kind mapping
                out[key] = {**out[key], **value}
                for inner in value:
                    self.mount(path + (inner,), self.child, path + (inner,))
            else:
                out[key] = value
                self.mount(path, self.child, path)
        return out

    def templates(self, base: dict, changes: dict) -> dict:
        """Templates by name: one with `layer` (or `layers`) adds or replaces, one with only `params` changes the base's
        parameter defaults (key by key), null removes."""
        out = dict(base)
        for name, value in changes.items():
            at = ("templates", name)
            if value is None:
                out.pop(name, None)
                self.clear(at)
            elif (isinstance(value, dict) and "layer" not in value and "layers" not in value
                  and isinstance(out.get(name), dict)
                  and isinstance(value.get("params"), dict) and isinstance(out[name].get("params") or {}, dict)):
                out[name] = {**out[name], "params": {**(out[name].get("params") or {}), **value["params"]}}
                for param in value["params"]:
                    self.mount(at + ("params", param), self.child, at + ("params", param))
                for key in value:
                    if key != "params":  # an unknown key: kept, so the checker reports it at its line
                        out[name][key] = value[key]
                        self.mount(at + (key,), self.child, at + (key,))
            else:
                out[name] = value
                self.mount(at, self.child, at)
        return out

    def named(self, base: dict, changes: dict, path: tuple) -> dict:
        """Stages (or heads) by name: a mapping edits, null removes, anything else replaces or adds."""
        out = dict(base)
        for name, value in changes.items():
            at = path + (name,)
            if value is None and name in out:
                del out[name]
                self.clear(at)
            elif name in out and isinstance(value, dict) and path == ("stages",) and isinstance(out[name], list):
                out[name] = self.layers(out[name], value, at, at, f"stage {name}")
            elif name in out and isinstance(value, dict) and path == ("aux_heads",) and isinstance(out[name], dict):
                out[name] = self.head(out[name], value, at)
            else:
                if path == ("stages",) and name not in out and isinstance(value, dict):
                    self.problems.append(self.child.problem(at, f"no stage '{clip(str(name))}' in {self.parent.file} "
                                                                f"to change; a new stage is a list of layers",
                                                            key=True))
                out[name] = value
                self.mount(at, self.child, at)
        return out

    def head(self, base: dict, changes: dict, path: tuple) -> dict:
        out = dict(base)
        for key, value in changes.items():
            at = path + (key,)
            if key == "layers" and isinstance(value, dict) and isinstance(out.get(key), list):
                out[key] = self.layers(out[key], value, at, at, f"auxiliary head {path[-1]}")
            else:
                out[key] = value
                self.mount(at, self.child, at)
        return out

    def layers(self, items: list, edits: dict, dst: tuple, src: tuple, what: str) -> list:
        """A base stage's layers with the named ones changed, removed or replaced."""
        names = local_names(items, self.known)
        for name in edits:
            if name not in names:
                known = ", ".join(n for n in names if n)
                self.problems.append(self.child.problem(src + (name,), f"no layer '{clip(str(name))}' in {what} of "
                                                                      f"{self.parent.file} (layers: {known})",
                                                        key=True))
        self.clear(dst)
        out = []
        for i, (item, name) in enumerate(zip(items, names)):
            j = len(out)
            if name not in edits:
                out.append(item)
                self.mount(dst + (j,), self.parent, dst + (i,))
                continue
            edit = edits[name]
            if edit is None:
                continue
            kind, fields = split_item(item)
            own = {o.key for o in options(LAYER_KINDS[kind])} if kind is not None else set()
            if kind is None and template_used(item, self.known) is not None:  # a template use: edited alike
                kind = template_used(item, self.known)
                fields, params = item[kind], self.known[kind].get("params") if isinstance(self.known[kind], dict) \
                    else None
                own = set(USE_KEYS) | set(params if isinstance(params, dict) else ())
            if _replaces(edit, own, self.known):
                out.append(edit)
                self.mount(dst + (j,), self.child, src + (name,))
            elif isinstance(edit, dict) and kind is not None:
                out.append({kind: {**(fields if isinstance(fields, dict) else {}), **edit}})
                self.mount(dst + (j,), self.parent, dst + (i,))
                for key in edit:
                    self.mount(dst + (j, kind, key), self.child, src + (name, key))
            else:
                self.problems.append(self.child.problem(src + (name,), f"expected the keys to change in {name} "
                                                                      f"(a mapping), null to remove it, or a layer "
                                                                      f"of another kind or a template use; got "
                                                                      f"{describe(edit)}"))
                out.append(item)
        return out


def _replaces(edit, own: set, templates: dict) -> bool:
    """`edit` is a whole layer (a bare kind, or {kind: {...}} or {template: {...}} whose key is no key of the
    layer or template use it replaces: `own`)."""
    if isinstance(edit, str):
        return edit in LAYER_KINDS
    if not isinstance(edit, dict) or len(edit) != 1:
        return False
    (key,) = edit
    return (key in LAYER_KINDS or key in templates) and key not in own
