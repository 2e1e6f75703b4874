"""Make tests/fixtures/cut/: what the official CUT code computes on a fixed tiny configuration, for
tests/test_cut_reference.py to compare translate's CUT and FastCUT against.

Run once, against a checkout of taesungp/contrastive-unpaired-translation (no package of it exists):

    git clone https://github.com/taesungp/contrastive-unpaired-translation /tmp/cut-ref
    python tools/make_cut_fixtures.py /tmp/cut-ref --commit "$(git -C /tmp/cut-ref rev-parse HEAD)"

The reference modules are imported from that folder at run time; nothing of them is copied here. Its
imports need torch, numpy, Pillow, torchvision and packaging only (models/cut_model.py and
models/networks.py reach util/util.py, which imports torchvision): nothing is stubbed.

For each mode (CUT, FastCUT; 2 images of 32 px, ResNet-6 of width 4, PatchGAN of width 4, heads of 16
units, 16 patches per layer) it saves, as `<mode>.safetensors` plus `<mode>.json`:
- the batch, and G, D and F's weights before the step (F as the reference builds it at the first batch);
- the encoder features of real A at layers 0,4,8,12,16 and F's projections at fixed patch ids;
- one `optimize_parameters()` step: its patch ids (recorded), flip (forced on for FastCUT), the losses,
  and every weight after the step.
"""

from __future__ import annotations

import argparse
import json
import sys
from argparse import Namespace
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "cut"

# The reference's options that a CUTModel reads, at the tiny sizes; the rest are the CUT code's defaults.
OPTIONS = {
    "input_nc": 3, "output_nc": 3, "ngf": 4, "ndf": 4, "netG": "resnet_6blocks", "netD": "basic", "n_layers_D": 3,
    "normG": "instance", "normD": "instance", "init_type": "xavier", "init_gain": 0.02, "no_dropout": True,
    "no_antialias": False, "no_antialias_up": False, "gpu_ids": [], "isTrain": True, "checkpoints_dir": "/tmp",
    "name": "fixtures", "preprocess": "resize_and_crop", "lambda_GAN": 1.0, "nce_layers": "0,4,8,12,16",
    "nce_includes_all_negatives_from_minibatch": False, "netF": "mlp_sample", "netF_nc": 16, "nce_T": 0.07,
    "num_patches": 16, "gan_mode": "lsgan", "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "batch_size": 2,
    "direction": "AtoB", "stylegan2_G_num_downsampling": 1, "pool_size": 0,
}  # fmt: skip
MODES = {
    "cut": {"CUT_mode": "CUT", "lambda_NCE": 1.0, "nce_idt": True, "flip_equivariance": False},
    "fastcut": {"CUT_mode": "FastCUT", "lambda_NCE": 10.0, "nce_idt": False, "flip_equivariance": True},
}
SIZE = 32


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v.detach().clone().contiguous() for k, v in state.items()}


@torch.no_grad()
def encoder_and_heads(model, real_a: torch.Tensor, layers: list[int], num_patches: int) -> dict[str, torch.Tensor]:
    """The reference G's features of `real_a` at `layers`, and F's projections of them at fixed patch ids."""
    feats = model.netG(real_a, layers, encode_only=True)
    ids = [torch.from_numpy(np.random.RandomState(7).permutation(f.shape[2] * f.shape[3])[:16]) for f in feats]
    projected, _ = model.netF(feats, num_patches, ids)
    tensors = {}
    for i, (feat, id_, proj) in enumerate(zip(feats, ids, projected, strict=True)):
        tensors |= {f"features.{i}": feat, f"fixed_ids.{i}": id_, f"projected.{i}": proj}
    return tensors


def make(mode: str, reference: Path, commit: str) -> None:
    sys.path.insert(0, str(reference))
    import models.networks as networks  # noqa: F401 - the reference, imported from the checkout
    from models.cut_model import CUTModel

    opt = Namespace(**OPTIONS, **MODES[mode])
    torch.manual_seed(0)
    np.random.seed(0)
    model = CUTModel(opt)
    g = torch.Generator().manual_seed(1)
    batch = {side: torch.rand(2, 3, SIZE, SIZE, generator=g) * 2 - 1 for side in ("A", "B")}
    batch |= {"A_paths": ["a0", "a1"], "B_paths": ["b0", "b1"]}
    model.data_dependent_initialize(batch)  # builds F from the first batch's features, as train.py does
    tensors = {"real_a": batch["A"], "real_b": batch["B"]}
    before = {"g": model.netG, "d": model.netD, "f": model.netF}
    for name, net in before.items():
        tensors |= prefixed(f"before.{name}", net.state_dict())

    # The encoder and the heads at fixed ids (the first 16 positions of a fixed permutation of each layer);
    # once, in the CUT file: FastCUT's networks are the same.
    layers = [int(i) for i in opt.nce_layers.split(",")]
    if mode == "cut":
        tensors |= encoder_and_heads(model, batch["A"], layers, opt.num_patches)

    # One training step, recording the patch ids the heads draw; FastCUT's coin forced to flip.
    drawn: list[list[torch.Tensor]] = []
    sample = model.netF.forward

    def recording(feats, num_patches=64, patch_ids=None):
        out, ids = sample(feats, num_patches, patch_ids)
        if patch_ids is None:
            drawn.append([torch.as_tensor(i) for i in ids])
        return out, ids

    model.netF.forward = recording
    if opt.flip_equivariance:
        np.random.random = lambda *args: 0.0  # < 0.5: flipped (the only np.random.random caller in the step)
    model.set_input(batch)
    model.optimize_parameters()
    losses = {"D": model.loss_D, "G_GAN": model.loss_G_GAN, "NCE": model.loss_NCE, "G": model.loss_G}
    if opt.nce_idt:
        losses["NCE_Y"] = model.loss_NCE_Y
    for call, ids in enumerate(drawn):
        tensors |= {f"step_ids.{call}.{i}": id_.long() for i, id_ in enumerate(ids)}
    for name, net in before.items():
        tensors |= prefixed(f"after.{name}", net.state_dict())
    OUT.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, OUT / f"{mode}.safetensors")
    meta = {
        "options": OPTIONS | MODES[mode],
        "layers": layers,
        "losses": {k: float(v.detach()) for k, v in losses.items()},
        "flipped": bool(getattr(model, "flipped_for_equivariance", False)),
        "step_id_calls": len(drawn),
        "torch": torch.__version__,
        "commit": commit,
        "reference": "taesungp/contrastive-unpaired-translation",
    }
    (OUT / f"{mode}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{mode}: {OUT / mode}.safetensors, losses {meta['losses']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="checkout of taesungp/contrastive-unpaired-translation")
    parser.add_argument("--commit", default="", help="its commit, recorded in the JSON")
    args = parser.parse_args()
    for mode in MODES:
        make(mode, args.reference, args.commit)


if __name__ == "__main__":
    main()
