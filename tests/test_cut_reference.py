"""translate's CUT and FastCUT against the official CUT code (taesungp/contrastive-unpaired-translation).

tests/fixtures/cut/ holds what that code computed on a tiny fixed configuration (tools/make_cut_fixtures.py
made it, importing the reference from a checkout): its weights before and after one `optimize_parameters()`
step, the batch, the patch ids it drew and the flip it took, its losses, and its encoder features and head
projections at fixed ids. Here the same weights go into translate's networks, the same ids and flip are
imposed, and everything must agree:
- encoder features and head projections: to 1e-6 (the same operations);
- the losses of the step (D, G_GAN, PatchNCE, identity PatchNCE): to 1e-5 relative;
- every weight after the step (one Adam step of 2e-4 on G, D and F): to 1e-6, against changes of ~2e-4;
  except the biases of convs that feed an instance norm without affine parameters. The norm subtracts
  them right away, so their gradient is zero but for rounding noise (~1e-9), which Adam's first step
  (g / (|g| + 1e-8)) turns into a move of up to +-lr in a random direction, in the reference as here.
  For those only the size of the move is checked (at most lr).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from torch import nn

from translate.config import CUTConfig, FastCUTConfig
from translate.methods.cut import CUT

FIXTURES = Path(__file__).parent / "fixtures" / "cut"
NETWORKS = ("g", "d", "f")


def fixture(mode: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    return load_file(FIXTURES / f"{mode}.safetensors"), json.loads((FIXTURES / f"{mode}.json").read_text())


def part(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def numbered(tensors: dict[str, torch.Tensor], prefix: str) -> list[torch.Tensor]:
    found = part(tensors, prefix)
    return [found[str(i)] for i in range(len(found))]


def method_with_reference_weights(mode: str, tmp_path: Path) -> tuple[CUT, dict[str, torch.Tensor], dict[str, Any]]:
    """translate's method at the fixture's settings (defaults but the tiny sizes), holding its weights."""
    tensors, meta = fixture(mode)
    options = meta["options"]
    settings = {"ngf": options["ngf"], "ndf": options["ndf"], "num_patches": options["num_patches"]}
    settings |= {"nce_mlp_width": options["netF_nc"], "batch_size": options["batch_size"]}
    config = (CUTConfig if mode == "cut" else FastCUTConfig)(
        a="x", b="x", out=tmp_path / "run", size=32, generator="resnet6", **settings
    )
    assert (config.lambda_nce, config.nce_idt, config.flip_equivariance) == (
        options["lambda_NCE"], options["nce_idt"], options["flip_equivariance"]
    )  # fmt: skip
    assert config.nce_layers == options["nce_layers"] and config.nce_t == options["nce_T"]
    method = CUT(config, Accelerator(cpu=True))
    for name in NETWORKS:
        getattr(method, name).load_state_dict(part(tensors, f"before.{name}"))  # strict: same layout, key for key
    method.optimizers = method.configure_optimizers()
    return method, tensors, meta


def biases_before_instance_norm(net: nn.Module) -> set[str]:
    """State-dict keys of the biases of convs whose output goes straight into an InstanceNorm2d."""
    found = set()
    for prefix, module in net.named_modules():
        if isinstance(module, nn.Sequential):
            children = list(module.named_children())
            for (name, layer), (_, after) in zip(children, children[1:], strict=False):
                if isinstance(layer, nn.Conv2d) and layer.bias is not None and isinstance(after, nn.InstanceNorm2d):
                    found.add(f"{prefix}.{name}.bias" if prefix else f"{name}.bias")
    return found


def test_encoder_features_and_head_projections_match(tmp_path):
    method, tensors, meta = method_with_reference_weights("cut", tmp_path)
    with torch.no_grad():
        feats = method.g(tensors["real_a"], meta["layers"])
        projected = method.f(feats, numbered(tensors, "fixed_ids"))
    for ours, theirs in zip(feats, numbered(tensors, "features"), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
    for ours, theirs in zip(projected, numbered(tensors, "projected"), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("mode", ["cut", "fastcut"])
def test_one_training_step_matches_the_reference(tmp_path, mode):
    method, tensors, meta = method_with_reference_weights(mode, tmp_path)
    calls = iter([numbered(tensors, f"step_ids.{call}") for call in range(meta["step_id_calls"])])
    method.draw_patch_ids = lambda shapes: next(calls)  # the reference's draws, in its order
    method.draw_flip = lambda: meta["flipped"]
    assert meta["flipped"] == (mode == "fastcut")  # the flip-equivariance path is the one checked

    losses = method.train_step(method.with_draws({"a": tensors["real_a"], "b": tensors["real_b"]}))

    assert next(calls, None) is None  # as many patch draws as the reference made
    expected = {k: v for k, v in meta["losses"].items() if k != "G"}
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert losses[name].item() == pytest.approx(value, rel=1e-5), name
    for name in NETWORKS:
        after, before = part(tensors, f"after.{name}"), part(tensors, f"before.{name}")
        moved = max((after[k] - before[k]).abs().max().item() for k in after if k.endswith("weight"))
        assert moved > 1e-4  # the step did move this network: the comparison below can fail
        net = getattr(method, name)
        noisy = biases_before_instance_norm(net)
        assert bool(noisy) == (name != "f")  # the heads have no norm layers
        for key, value in net.state_dict().items():
            if key in noisy:
                assert (value - before[key]).abs().max().item() <= 2e-4 * 1.001, f"{name}.{key}"
            else:
                torch.testing.assert_close(value, after[key], rtol=0, atol=1e-6, msg=f"{name}.{key}")
