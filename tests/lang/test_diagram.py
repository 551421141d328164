"""`summary ARCH --plot FILE.png`: the picture of the network, checked from what it draws (its text artists and the
boxes they lie in) against the spec, and the PNG the command writes."""
from __future__ import annotations

import os

import pytest
from conftest import ROOT, cli

from inception_keras.lang.diagram import layer_text, network_figure
from inception_keras.lang.kinds import Inception
from inception_keras.lang.parse import load_arch

ARCHS = ["googlenet.yaml", "googlenet_paper.yaml", "googlenet_bn.yaml"]


def shape(s) -> str:
    return "x".join(map(str, s))


def drawn(fig):
    """{gid: (x0, y0, x1, y1)} of the named frames, and [(text, x, y)] of every text, in the figure's inches."""
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.text import Text

    ax = fig.axes[0]
    frames = {p.get_gid(): (p.get_x(), p.get_y(), p.get_x() + p.get_width(), p.get_y() + p.get_height())
              for p in ax.patches if isinstance(p, FancyBboxPatch) and p.get_gid()}
    texts = [(t.get_text(), *t.get_position()) for t in ax.findobj(Text) if t.get_text()]
    return frames, texts


def inside(texts, box) -> set[str]:
    x0, y0, x1, y1 = box
    return {t for t, x, y in texts if x0 <= x <= x1 and y0 <= y <= y1}


@pytest.mark.parametrize("name", ARCHS)
def test_every_block_stage_layer_and_head_is_drawn_as_declared(name):
    spec = load_arch(os.path.join(ROOT, "arch", name))
    frames, texts = drawn(network_figure(spec))
    shapes = {(r.stage, r.name): r.shape for r in spec.rows}
    blocks = [layer for stage in spec.stages for layer in stage.layers if isinstance(layer, Inception)]
    assert len(blocks) == 9
    for b in blocks:
        within = inside(texts, frames[f"block:{b.name}"])
        k, p = b.kernel_5x5, b.pool_size
        assert {f"inception {b.name}" + (" (conv +BN)" if b.batch_norm else ""), f"{b.out_channels} channels",
                f"1x1 conv, {b.n1x1}", f"1x1 conv, {b.n3x3_reduce}", f"3x3 conv, {b.n3x3}",
                f"1x1 conv, {b.n5x5_reduce}", f"{k}x{k} conv, {b.n5x5}", f"{p}x{p} {b.pool_type}pool",
                f"1x1 conv, {b.pool_proj}", f"concat  {b.n1x1} + {b.n3x3} + {b.n5x5} + {b.pool_proj}",
                shape(shapes[(next(s.name for s in spec.stages if b in s.layers), b.name)])} <= within, b.name
    for stage in spec.stages:
        within = inside(texts, frames[f"stage:{stage.name}"])
        assert {stage.name, shape(shapes[(stage.name, stage.layers[-1].name)])} <= within
        for layer in stage.layers:
            if not isinstance(layer, Inception):
                assert {layer_text(layer), shape(shapes[(stage.name, layer.name)])} <= within, layer.name
    # auxiliary heads: every layer inside a dashed frame to the right of the block it attaches to, level with it
    assert len(spec.aux_heads) == (0 if name == "googlenet.yaml" else 2)
    for head in spec.aux_heads:
        frame, block = frames[f"aux:{head.name}"], frames[f"block:{head.after}"]
        within = inside(texts, frame)
        assert f"{head.name} (after {head.after}, loss ×{head.loss_weight:g})" in within
        assert {layer_text(layer) for layer in head.layers} <= within
        assert block[2] < frame[0] < block[2] + 1.0  # beside it, not far
        assert block[1] <= frame[1] < block[3]  # starting level with the block
    title = next(t for t, _, _ in texts if t.startswith(f"{spec.name}: "))
    assert f"{spec.params:,} parameters" in title and f"{spec.macs / 1e9:.3f} G multiply-adds" in title


def test_torchvision_branch_3_is_3x3_and_layer_texts():
    spec = load_arch(os.path.join(ROOT, "arch", "googlenet_bn.yaml"))
    frames, texts = drawn(network_figure(spec))
    within = inside(texts, frames["block:3a"])
    assert "3x3 conv, 32" in within and not any("5x5" in t for t in within)
    assert "adaptive avgpool to 4x4" in inside(texts, frames["aux:aux1"])
    b1 = inside(texts, frames["stage:b1"])
    assert {"conv 7x7/2, 64 +BN", "112x112x64", "maxpool 3x3/2", "56x56x64"} <= b1


@pytest.mark.e2e
def test_summary_plot_writes_a_png(tmp_path):
    from PIL import Image

    out = tmp_path / "net.png"
    r = cli("summary", "arch/googlenet_paper.yaml", "--plot", out, "--input-shape", "192,192,3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("googlenet-paper (arch/googlenet_paper.yaml): input 192x192x3")  # the table as before
    assert r.stderr.strip() == f"picture: {out}"
    with Image.open(out) as im:
        assert im.format == "PNG"
        width, height = im.size
    spec = load_arch("arch/googlenet_paper.yaml", sets=[("input", [192, 192, 3])])
    fig = network_figure(spec)
    assert [abs(a - v * 100) < 1 for a, v in zip((width, height), fig.get_size_inches())] == [True, True]
    assert 1200 <= width <= 2400 and 800 <= height <= 1600  # one screen, not a 300-node strip
    _, texts = drawn(fig)
    assert "192x192x3" in {t for t, _, _ in texts} and "6x6x832" in {t for t, _, _ in texts}  # b4 at 192 px

    r = cli("summary", "arch/googlenet.yaml", "--plot", tmp_path / "net.svg")
    assert r.returncode == 2 and "name a file ending in .png" in r.stderr and r.stdout == ""
    r = cli("summary", "arch/googlenet.yaml", "--plot", tmp_path / "no" / "net.png")
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr
