"""The image pool of past fakes (translate/methods/image_pool.py): drawn on the host, carried out on the device."""

from __future__ import annotations

import torch

from translate.methods.image_pool import ImagePool


def images(*values: float) -> torch.Tensor:
    """One 1x2x2 image per value, filled with it."""
    return torch.tensor(values, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 1, 2, 2).clone()


def values(batch: torch.Tensor) -> list[float]:
    return [float(image[0, 0, 0]) for image in batch]


def test_a_filling_pool_returns_and_keeps_each_new_image():
    pool = ImagePool(3, seed=0)
    assert values(pool.query(images(1, 2), pool.draw(2))) == [1, 2]
    assert pool.count == 2 and values(pool.buffer[:2]) == [1, 2]
    assert values(pool.state_dict()["images"]) == [1, 2]


def test_a_full_pool_swaps_where_its_draws_say():
    pool = ImagePool(2, seed=0)
    pool.query(images(1, 2), pool.draw(2))
    choices = torch.tensor([[1, 0, 0], [0, 2, 2]])  # image 5: swap with slot 0; image 6: returned, not kept
    assert values(pool.query(images(5, 6), choices)) == [1, 6]
    assert values(pool.buffer[:2]) == [5, 2]


def test_two_swaps_of_one_slot_in_a_batch_act_in_order():
    pool = ImagePool(2, seed=0)
    pool.query(images(1, 2), pool.draw(2))
    choices = torch.tensor([[1, 1, 1], [1, 1, 1]])
    assert values(pool.query(images(7, 8), choices)) == [2, 7]  # the second gets the first's new image
    assert values(pool.buffer[:2]) == [1, 8]


def test_draws_follow_the_seeded_stream_and_count_the_filling():
    first, second = ImagePool(2, seed=5), ImagePool(2, seed=5)
    draws = [first.draw(3) for _ in range(20)]
    assert [second.draw(3).tolist() for _ in range(20)] == [d.tolist() for d in draws]
    rows = torch.cat(draws)
    assert rows[:2].tolist() == [[0, 2, 0], [0, 2, 1]]  # filling: kept in slots 0 and 1, nothing returned
    later = rows[2:]
    swapped = later[later[:, 0] == 1]
    assert 0.3 < len(swapped) / len(later) < 0.7  # about half the time once full
    assert (swapped[:, 1] == swapped[:, 2]).all() and set(swapped[:, 1].tolist()) == {0, 1}
    kept_new = later[later[:, 0] == 0]
    assert (kept_new[:, 1:] == 2).all()  # the spare slot: nothing read, nothing stored


def test_the_state_restores_contents_and_draws_in_place():
    pool = ImagePool(3, seed=1)
    for step in range(4):
        pool.query(images(step, step + 0.5), pool.draw(2))
    state = pool.state_dict()
    expected = [pool.draw(2) for _ in range(3)]
    restored = ImagePool(3, seed=99)
    restored.query(images(0, 0), restored.draw(2))
    buffer = restored.buffer
    restored.load_state_dict(state)
    assert restored.buffer is buffer  # in place: a captured step reads the same memory
    assert values(restored.buffer[:3]) == values(state["images"]) and restored.count == 3
    assert all(torch.equal(restored.draw(2), e) for e in expected)


def test_the_state_is_a_copy_not_a_view():
    pool = ImagePool(2, seed=0)
    pool.query(images(1, 2), pool.draw(2))
    state = pool.state_dict()
    pool.query(images(3, 4), torch.tensor([[1, 0, 0], [1, 1, 1]]))
    assert values(state["images"]) == [1, 2]


def test_a_pool_of_size_zero_passes_images_through_without_drawing():
    pool = ImagePool(0, seed=0)
    before = pool.generator.get_state()
    batch = images(1, 2)
    assert pool.query(batch, pool.draw(2)) is batch
    assert torch.equal(pool.generator.get_state(), before)


def test_channels_last_images_come_back_channels_last_with_the_same_values():
    def run(layout: torch.memory_format, resumed_from: dict | None = None) -> list[torch.Tensor]:
        pool = ImagePool(2, seed=0)
        if resumed_from is not None:
            pool.load_state_dict(resumed_from)
        batches = [torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(i)) for i in range(3)]
        return [pool.query(b.contiguous(memory_format=layout), pool.draw(2)) for b in batches]

    for plain, nhwc in zip(run(torch.contiguous_format), run(torch.channels_last), strict=True):
        assert plain.is_contiguous() and nhwc.is_contiguous(memory_format=torch.channels_last)
        assert not nhwc.is_contiguous()
        torch.testing.assert_close(nhwc, plain, rtol=0, atol=0)
    filled = ImagePool(2, seed=0)
    filled.query(torch.rand(2, 3, 4, 5), filled.draw(2))
    state = filled.state_dict()
    for plain, nhwc in zip(run(torch.contiguous_format, state), run(torch.channels_last, state), strict=True):
        assert nhwc.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(nhwc, plain, rtol=0, atol=0)
