"""History of generated images (Shrivastava et al. 2017), as CycleGAN uses to steady its discriminators."""

from __future__ import annotations

import torch

from translate.methods.host_random import coin, index_below


class ImagePool:
    """Keeps up to `size` past fakes; each query returns, per image, the new fake or (half the time,
    once full) a stored one that the new fake replaces.

    The pool draws from its own seeded generator and exposes its contents as tensors, so a resumed
    run continues with exactly the pool and random stream it stopped with.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif coin(self.generator):
                index = index_below(len(self.images), self.generator)
                out.append(self.images[index].clone())
                self.images[index] = image.clone()
            else:
                out.append(image)
        return torch.cat(out)

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"generator": self.generator.get_state()}
        if self.images:
            state["images"] = torch.cat(self.images).cpu().contiguous()
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        self.generator.set_state(state["generator"])
        images = state.get("images")
        self.images = [] if images is None else [im.unsqueeze(0).to(device) for im in images]
