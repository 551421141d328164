"""`inception-keras summary ARCH --plot FILE.png`: a picture of the network as declared, from the spec alone.

Stages are grey panels read top to bottom and column by column (the flow is drawn as arrows); a layer is one
box with its kernel, stride and channels and its output shape; an Inception block is drawn as its four
branches side by side (1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | pool -> 1x1, kernels and channels as declared) joined
by the concatenation with its output shape; auxiliary heads (dashed) stand beside the block they attach to.
Boxes are coloured by what they do: 1x1 convolutions blue, 3x3 orange, 5x5 green, other kernels pink,
pooling lavender, dense layers yellow, the rest grey. Matplotlib only (no Keras, no Graphviz).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from inception_keras import writing
from inception_keras.lang.arch import ArchSpec
from inception_keras.lang.geometry import pair_text
from inception_keras.lang.kinds import Conv, Inception, Layer

# sizes in inches
BOX_H = 0.34  # a layer's box
GAP = 0.2  # between boxes in a column (an arrow)
HEADER_H = 0.34  # a stage's name and output shape
STAGE_PAD = 0.1
STAGE_GAP = 0.3
BRANCH_W, BRANCH_GAP = 0.98, 0.08
BLOCK_W = 4 * BRANCH_W + 3 * BRANCH_GAP + 0.2
ROW1 = 0.44  # a block's first row of branch boxes, below its title and the line that feeds the branches
BLOCK_H = ROW1 + BOX_H + 0.16 + BOX_H + 0.16 + 0.3 + 0.1
LAYER_W = 2.9  # a layer's box in a column without Inception blocks
TEXT_W = 0.06  # inches per character of a box's text, to widen a column of long branch lines
AUX_W, AUX_BOX_H, AUX_GAP = 2.5, 0.28, 0.1
COL_GAP = 0.55
MARGIN = 0.3
FONT = 7.5

COLOURS = {1: "#cfe2f3", 3: "#fce5cd", 5: "#d9ead3"}
OTHER_CONV, POOL, DENSE, PLAIN, CONCAT = "#f4cccc", "#e4dcf0", "#fff2cc", "#eeeeee", "#f3f3f3"


def _k(n) -> str:
    return pair_text(n) if isinstance(n, tuple) else f"{n}x{n}"


def _shape(shape: tuple) -> str:
    return "x".join(map(str, shape))


def layer_text(layer: Layer) -> str:
    """A layer in a few words: `conv 7x7/2, 64`, `maxpool 3x3/2`, `dense 1024, relu`, `dropout 0.4`."""
    kind = layer.KIND
    if kind in ("conv", "sepconv"):
        stride = f"/{pair_text(layer.stride)}" if layer.stride != 1 else ""
        return f"{kind} {_k(layer.kernel)}{stride}, {layer.filters}" + (" +BN" if layer.batch_norm else "")
    if kind == "branch":
        return branch_text(layer)
    if kind in ("maxpool", "avgpool"):
        return f"{kind} {_k(layer.size)}/{layer.stride}"
    if kind == "adaptive_avgpool":
        return f"adaptive avgpool to {_k(layer.output)}"
    if kind == "global_avgpool":
        return "global avgpool"
    if kind == "dense":
        return f"dense {layer.units}" + (f", {layer.activation}" if layer.activation != "linear" else "")
    if kind == "dropout":
        return f"dropout {layer.rate:g}"
    if kind == "lrn":
        return f"LRN (size {layer.size})"
    if kind == "batch_norm":
        return "batch norm"
    return kind


def _short(layer: Layer) -> str:
    """A layer inside a branch in one or two words: `1x7`, `sep3x3`, `pool`, `(1x3 | 3x1)`."""
    if layer.KIND in ("conv", "sepconv"):
        return ("sep" if layer.KIND == "sepconv" else "") + _k(layer.kernel) + (
            f"/{pair_text(layer.stride)}" if layer.stride != 1 else "")
    if layer.KIND == "branch":
        return f"({branch_text(layer, False)})"
    return {"maxpool": "max", "avgpool": "avg", "activation": "act", "batch_norm": "bn"}.get(layer.KIND, layer.KIND)


def branch_text(layer, named: bool = True) -> str:
    """A branch block in a line: its branches' layers (nested ones in parentheses; with `split`, the channels of
    each branch's slice first), then the residual sum."""
    join = " | " if layer.join == "concat" else " + "
    text = join.join(">".join(_short(la) for la in b) or "id" for b in layer.branches)
    if getattr(layer, "split", None):  # the channels each branch gets: InceptionNeXt's `24/8/8/8: id | 3x3 | ...`
        text = f"{'/'.join(map(str, layer.split))}: {text}"
    if layer.then:
        text += ", " + ">".join(_short(la) for la in layer.then)
    if layer.residual:
        short = ">".join(_short(la) for la in layer.shortcut) or "x"
        text = f"{short} + {layer.scale:g}*[{text}]" if layer.scale != 1.0 else f"{short} + [{text}]"
    if layer.activation != "linear":
        text += f", {layer.activation}"
    return f"{layer.name.rsplit('.', 1)[-1]}: {text}" if named else text


def layer_colour(layer: Layer) -> str:
    if isinstance(layer, Conv):
        return COLOURS.get(layer.kernel, OTHER_CONV)
    if "pool" in layer.KIND:
        return POOL
    return DENSE if layer.KIND == "dense" else PLAIN


def branch_texts(block: Inception) -> list[list[tuple[str, str]]]:
    """The four branches, top to bottom: [(text, colour), ...] each."""
    def conv(k, n):
        return f"{_k(k)} conv, {n}", COLOURS.get(k, OTHER_CONV)

    return [[conv(1, block.n1x1)],
            [conv(1, block.n3x3_reduce), conv(3, block.n3x3)],
            [conv(1, block.n5x5_reduce), conv(block.kernel_5x5, block.n5x5)],
            [(f"{_k(block.pool_size)} {block.pool_type}pool", POOL), conv(1, block.pool_proj)]]


# ----------------------------------------------------------------------------- layout


@dataclass
class Node:
    layer: Layer
    shape: tuple
    height: float
    y: float = 0.0  # top


@dataclass
class StageBox:
    name: str
    nodes: list
    shape: tuple
    aux: bool = False
    width: float = LAYER_W
    x: float = 0.0
    y: float = 0.0
    after: str = ""  # aux heads: the block they attach to
    loss_weight: float = 0.0

    @property
    def gap(self) -> float:
        return AUX_GAP if self.aux else GAP

    @property
    def height(self) -> float:
        return HEADER_H + sum(n.height for n in self.nodes) + self.gap * (len(self.nodes) - 1) + 2 * STAGE_PAD


@dataclass
class Column:
    stages: list = field(default_factory=list)
    x: float = 0.0
    width: float = 0.0
    aux: list = field(default_factory=list)  # StageBoxes of the aux heads beside this column

    @property
    def height(self) -> float:
        return sum(s.height for s in self.stages) + STAGE_GAP * (len(self.stages) - 1)


def _stages(spec: ArchSpec) -> tuple[list[StageBox], list[StageBox]]:
    shapes = {(r.stage, r.name): r.shape for r in spec.rows}
    out = []
    for stage in spec.stages:
        nodes = [Node(layer, shapes[(stage.name, layer.name)], BLOCK_H if isinstance(layer, Inception) else BOX_H)
                 for layer in stage.layers]
        wide = any(isinstance(layer, Inception) for layer in stage.layers)
        longest = max(len(layer_text(layer)) for layer in stage.layers)  # branch blocks write out their branches
        width = BLOCK_W if wide else max(LAYER_W, TEXT_W * longest + 1.1)
        out.append(StageBox(stage.name, nodes, nodes[-1].shape, width=width))
    heads = []
    for head in spec.aux_heads:
        nodes = [Node(layer, shapes[(head.name, layer.name)], AUX_BOX_H) for layer in head.layers]
        heads.append(StageBox(head.name, nodes, nodes[-1].shape, aux=True, width=AUX_W, after=head.after,
                              loss_weight=head.loss_weight))
    return out, heads


def _columns(stages: list[StageBox]) -> list[Column]:
    """Consecutive stages share a column while it stays no taller than the tallest stage (or a third of all)."""
    total = sum(s.height for s in stages) + STAGE_GAP * (len(stages) - 1)
    limit = max(max(s.height for s in stages), total / 3)
    columns = [Column()]
    for s in stages:
        col = columns[-1]
        if col.stages and col.height + STAGE_GAP + s.height > limit + 1e-9:
            columns.append(col := Column())
        col.stages.append(s)
    return columns


def layout(spec: ArchSpec, top: float) -> tuple[list[Column], float, float]:
    """Columns with every stage, node and aux head placed; (columns, width, height) in inches."""
    stages, heads = _stages(spec)
    columns = _columns(stages)
    block_at = {}
    for col in columns:
        y = top
        col.width = max(s.width for s in col.stages)
        for s in col.stages:
            s.y = y
            ny = y + HEADER_H + STAGE_PAD
            for node in s.nodes:
                node.y = ny
                if isinstance(node.layer, Inception):
                    block_at[node.layer.name] = (col, node)
                ny += node.height + GAP
            y += s.height + STAGE_GAP
    for head in heads:
        col, node = block_at[head.after]
        y = node.y
        for other in col.aux:
            y = max(y, other.y + other.height + STAGE_GAP)
        head.y = y
        y2 = y + HEADER_H + STAGE_PAD
        for n in head.nodes:
            n.y = y2
            y2 += n.height + head.gap
        col.aux.append(head)
    x = MARGIN
    bottom = top
    for col in columns:
        col.x = x
        for s in col.stages:
            s.x = x + (col.width - s.width) / 2
        x += col.width + COL_GAP
        for head in col.aux:
            head.x = x - COL_GAP / 2
        if col.aux:
            x += AUX_W + COL_GAP / 2
        bottom = max([bottom, top + col.height] + [h.y + h.height for h in col.aux])
    return columns, x - COL_GAP + MARGIN, bottom + MARGIN


# ----------------------------------------------------------------------------- drawing


class _Painter:
    def __init__(self, ax):
        self.ax = ax

    def box(self, x, y, w, h, text, colour, shape="", size=FONT, dashed=False, gid=None, bold=False):
        from matplotlib.patches import FancyBboxPatch

        self.ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.04", facecolor=colour,
                                         edgecolor="#555555", linewidth=0.8, linestyle="--" if dashed else "-",
                                         gid=gid))
        if shape:
            self.ax.text(x + 0.07, y + h / 2, text, ha="left", va="center", fontsize=size,
                         fontweight="bold" if bold else "normal")
            self.ax.text(x + w - 0.07, y + h / 2, shape, ha="right", va="center", fontsize=size - 0.5,
                         color="#555555")
        else:
            self.ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size,
                         fontweight="bold" if bold else "normal")

    def arrow(self, points, colour="#444444", style="-|>"):
        from matplotlib.patches import FancyArrowPatch
        from matplotlib.path import Path

        codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
        self.ax.add_patch(FancyArrowPatch(path=Path(points, codes), arrowstyle=style, mutation_scale=8,
                                          color=colour, linewidth=0.9, shrinkA=0, shrinkB=0))

    def frame(self, x, y, w, h, colour, dashed=False, gid=None):
        from matplotlib.patches import FancyBboxPatch

        self.ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.08", facecolor=colour,
                                         edgecolor="#999999", linewidth=0.8, linestyle="--" if dashed else "-",
                                         gid=gid))


def _draw_block(p: _Painter, block: Inception, shape: tuple, x: float, y: float, w: float) -> None:
    """An Inception block: title, four branches side by side, the concatenation."""
    p.frame(x, y, w, BLOCK_H, "white", gid=f"block:{block.name}")
    tag = " (conv +BN)" if block.batch_norm else ""
    p.ax.text(x + 0.08, y + 0.15, f"inception {block.name}{tag}", ha="left", va="center", fontsize=FONT + 0.5,
              fontweight="bold")
    p.ax.text(x + w - 0.08, y + 0.15, f"{block.out_channels} channels", ha="right", va="center", fontsize=FONT - 0.5,
              color="#555555")
    x0 = x + (w - (4 * BRANCH_W + 3 * BRANCH_GAP)) / 2
    row1, row2 = y + ROW1, y + ROW1 + BOX_H + 0.16
    concat_y = row2 + BOX_H + 0.16
    feed = row1 - 0.1  # the block's input, fed to the four branches
    centres = [x0 + i * (BRANCH_W + BRANCH_GAP) + BRANCH_W / 2 for i in range(4)]
    p.arrow([(centres[0], feed), (centres[-1], feed)], style="-")
    p.arrow([(x + w / 2, y), (x + w / 2, feed)], style="-")
    for i, boxes in enumerate(branch_texts(block)):
        bx = x0 + i * (BRANCH_W + BRANCH_GAP)
        p.arrow([(centres[i], feed), (centres[i], row1)])
        ys = [row1] if len(boxes) == 1 else [row1, row2]
        for (text, colour), by in zip(boxes, ys):
            p.box(bx, by, BRANCH_W, BOX_H, text, colour, size=FONT - 0.5)
        if len(boxes) == 2:
            p.arrow([(bx + BRANCH_W / 2, row1 + BOX_H), (bx + BRANCH_W / 2, row2)])
        start = ys[-1] + BOX_H
        p.arrow([(bx + BRANCH_W / 2, start), (bx + BRANCH_W / 2, concat_y)])
    p.box(x0, concat_y, 4 * BRANCH_W + 3 * BRANCH_GAP, 0.3, f"concat  {block.n1x1} + {block.n3x3} + {block.n5x5} + "
          f"{block.pool_proj}", CONCAT, shape=_shape(shape), bold=True)


def _draw_stage(p: _Painter, s: StageBox) -> None:
    p.frame(s.x, s.y, s.width, s.height, "#fafafa" if s.aux else "#ececec", dashed=s.aux,
            gid=f"{'aux' if s.aux else 'stage'}:{s.name}")
    title = f"{s.name} (after {s.after}, loss ×{s.loss_weight:g})" if s.aux else s.name
    p.ax.text(s.x + 0.08, s.y + HEADER_H / 2 + STAGE_PAD / 2, title, ha="left", va="center",
              fontsize=FONT + (0 if s.aux else 1.5), fontweight="bold")
    p.ax.text(s.x + s.width - 0.08, s.y + HEADER_H / 2 + STAGE_PAD / 2, _shape(s.shape), ha="right", va="center",
              fontsize=FONT + (0 if s.aux else 1), color="#333333")
    inner_x, inner_w = s.x + 0.1, s.width - 0.2
    for i, node in enumerate(s.nodes):
        if isinstance(node.layer, Inception):
            _draw_block(p, node.layer, node.shape, inner_x, node.y, inner_w)
        else:
            w = inner_w if inner_w > LAYER_W else min(inner_w, LAYER_W - 0.2)
            p.box(s.x + (s.width - w) / 2, node.y, w, node.height, layer_text(node.layer), layer_colour(node.layer),
                  shape=_shape(node.shape), size=FONT - (0.5 if s.aux else 0), dashed=s.aux)
        if i:
            prev = s.nodes[i - 1]
            cx = s.x + s.width / 2
            p.arrow([(cx, prev.y + prev.height), (cx, node.y)])


def _connect(p: _Painter, columns: list[Column], top: float, input_y: float) -> None:
    """Arrows: input -> first stage, stage -> stage within a column, column -> next column (over the top)."""
    flow = [s for col in columns for s in col.stages]
    first = flow[0]
    p.arrow([(first.x + first.width / 2, input_y), (first.x + first.width / 2, first.nodes[0].y)])
    for a, b in zip(flow, flow[1:]):
        ax_, bx = a.x + a.width / 2, b.x + b.width / 2
        last = a.nodes[-1]
        start = (ax_, last.y + last.height)
        if abs(a.x - b.x) < 1e-9 or b.y > a.y:  # the same column: straight down
            p.arrow([start, (bx, b.nodes[0].y)])
            continue
        col_a = next(c for c in columns if a in c.stages)
        low = max([a.y + a.height] + [h.y + h.height for h in col_a.aux]) + 0.12
        mid = b.x - COL_GAP / 2 + 0.05
        high = top - 0.12
        p.arrow([start, (ax_, low), (mid, low), (mid, high), (bx, high), (bx, b.nodes[0].y)], colour="#888888")
    for col in columns:
        for head in col.aux:
            node = next(n for s in col.stages for n in s.nodes if n.layer.name == head.after)
            stage = next(s for s in col.stages if node in s.nodes)
            y = node.y + BLOCK_H / 2
            p.arrow([(stage.x + stage.width - 0.1, y), (head.x, y)], colour="#888888")


def network_figure(spec: ArchSpec):
    """The picture of `spec` as a matplotlib Figure (not saved)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    title_h = 0.75
    input_h = 0.3
    top = MARGIN + title_h + input_h + GAP
    columns, width, height = layout(spec, top)
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    p = _Painter(ax)
    nontrain = sum(r.nontrainable for r in spec.rows if not r.aux)
    params = f"{spec.params:,} parameters" + (f" ({nontrain:,} non-trainable)" if nontrain else "")
    macs = f"{spec.macs / 1e9:.3f} G" if spec.macs >= 1e6 else f"{spec.macs:,}"
    ax.text(MARGIN, MARGIN + 0.05, f"{spec.name}: {params}, {macs} multiply-adds per image",
            ha="left", va="top", fontsize=13, fontweight="bold")
    notes = f"{spec.source}; output shapes HxWxC at input {_shape(spec.input)}"
    if spec.aux_heads:
        notes += f"; dashed: auxiliary heads, training only ({spec.params_with_aux:,} parameters with them)"
    ax.text(MARGIN, MARGIN + 0.4, notes, ha="left", va="top", fontsize=FONT + 1, color="#333333")
    first = columns[0].stages[0]
    input_y = top - GAP - input_h
    p.box(first.x + (first.width - 1.8) / 2, input_y, 1.8, input_h, "input", PLAIN, shape=_shape(spec.input))
    for col in columns:
        for s in col.stages + col.aux:
            _draw_stage(p, s)
    _connect(p, columns, top, input_y + input_h)
    return fig


def plot_network(spec: ArchSpec, path) -> str:
    """Write the picture of `spec` to the PNG `path` (a path or a writing.Output: the one rule for outputs)."""
    writing.check(path, writing.PNG)
    fig = network_figure(spec)
    with writing.output(path, writing.PNG) as tmp:
        fig.savefig(tmp, format="png")
    return writing.path_of(path)
