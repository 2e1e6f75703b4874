"""History of generated images (Shrivastava et al. 2017), as CycleGAN uses to steady its discriminators."""

from __future__ import annotations

import torch

from translate.methods.host_random import coin, index_below
from translate.nets.norms import is_channels_last

# The columns of a row of `ImagePool.draw`: return the stored image?, slot read, slot written.
_USE_STORED, _READ, _WRITE = range(3)


class ImagePool:
    """Keeps up to `size` past fakes; each query returns, per image, the new fake or (half the time,
    once full) a stored one that the new fake replaces.

    A query is split in two so that a training step can be captured as a CUDA graph (issue 19): `draw`
    makes the random choices on the host before the step, and `query` carries them out on the device
    with the same operations every step, whether the pool is filling or full. The images live in one
    device buffer with a spare slot that writes go to when nothing is stored. The pool draws from its
    own seeded generator and exposes its contents as tensors, so a resumed run continues with exactly
    the pool and random stream it stopped with.
    """

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.count = 0  # images stored, counted on the host as they are drawn for
        self.buffer: torch.Tensor | None = None  # (size + 1, C, H, W); slot `size` is the spare one
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, batch_size: int) -> torch.Tensor:
        """The choices for the next query of `batch_size` images: a (batch_size, 3) int64 CPU tensor of
        (return the stored image, slot read, slot written) rows, in the order the images are queried."""
        spare = self.size
        rows = []
        for _ in range(batch_size if self.size else 0):
            if self.count < self.size:  # filling: keep it, return it
                rows.append((0, spare, self.count))
                self.count += 1
            elif coin(self.generator):  # return a stored one, keep the new one in its place
                index = index_below(self.size, self.generator)
                rows.append((1, index, index))
            else:
                rows.append((0, spare, spare))
        return torch.tensor(rows, dtype=torch.long).reshape(-1, 3)

    def query(self, images: torch.Tensor, choices: torch.Tensor) -> torch.Tensor:
        """Carry out `choices` (from `draw`, on the images' device) for `images`; image by image, so that
        two choices of one slot in a batch act in order."""
        if self.size == 0:
            return images
        images = images.detach()
        if self.buffer is None:
            self.buffer = images.new_zeros((self.size + 1, *images.shape[1:]))
        out = []
        for i in range(images.shape[0]):
            image = images[i : i + 1]
            stored = self.buffer.index_select(0, choices[i, _READ : _READ + 1])
            out.append(torch.where(choices[i, _USE_STORED].bool(), stored, image))
            self.buffer.index_copy_(0, choices[i, _WRITE : _WRITE + 1], image.to(self.buffer.dtype))
        # in the layout they came in: the buffer is NCHW, and NCHW fakes made a channels-last D recompile
        layout = torch.channels_last if is_channels_last(images) else torch.contiguous_format
        return torch.cat(out).contiguous(memory_format=layout)

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = {"generator": self.generator.get_state()}
        if self.count and self.buffer is not None:
            state["images"] = self.buffer[: self.count].to("cpu", copy=True)  # a copy, not a view, on a CPU too
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor], device: torch.device | str = "cpu") -> None:
        self.generator.set_state(state["generator"])
        images = state.get("images")
        self.count = 0 if images is None else len(images)
        if images is None:
            if self.buffer is not None:
                self.buffer.zero_()
            return
        shape = (self.size + 1, *images.shape[1:])
        if self.buffer is None or self.buffer.shape != shape or self.buffer.dtype != images.dtype:
            self.buffer = torch.zeros(shape, dtype=images.dtype, device=device)
        self.buffer[: self.count].copy_(images)  # in place: a captured step keeps reading this buffer
