import math

import numpy as np
import pytest
from PIL import Image

skimage = pytest.importorskip("skimage")
from skimage import data  # noqa: E402
from skimage.color import rgb2ycbcr  # noqa: E402
from skimage.metrics import peak_signal_noise_ratio, structural_similarity  # noqa: E402

from translate.errors import ConfigError  # noqa: E402
from translate.metrics.quality import psnr, rgb_to_y, ssim  # noqa: E402


def bicubic_down_up(img: np.ndarray, scale: int = 4) -> np.ndarray:
    h, w = img.shape[:2]
    small = Image.fromarray(img).resize((w // scale, h // scale), Image.BICUBIC)
    return np.asarray(small.resize((w, h), Image.BICUBIC))


def noisy(img: np.ndarray, sigma: float = 10.0) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(img + rng.normal(0, sigma, img.shape), 0, 255).round().astype(np.uint8)


def blurred(img: np.ndarray) -> np.ndarray:
    from PIL import ImageFilter

    return np.asarray(Image.fromarray(img).filter(ImageFilter.GaussianBlur(2)))


CASES = [
    ("astronaut-bicubic", data.astronaut, bicubic_down_up),
    ("chelsea-noise", data.chelsea, noisy),
    ("coffee-blur", data.coffee, blurred),
]


@pytest.fixture(params=CASES, ids=[c[0] for c in CASES])
def pair(request):
    _, load, degrade = request.param
    hr = load()
    return hr, degrade(hr)


def sk_ssim(y1: np.ndarray, y2: np.ndarray, **kw) -> float:
    # skimage filters the whole image (reflect padding) and then averages the SSIM map after
    # cropping (win_size - 1) // 2 = 5 pixels from every side; with sigma=1.5 and its default
    # truncate=3.5 the window is the same 11-tap Gaussian. Both steps together equal our
    # 'valid' filtering (BasicSR's filter2D(...)[5:-5, 5:-5]): the padded borders are cropped
    # away, so the maps and their means coincide exactly.
    return structural_similarity(
        y1, y2, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, **kw
    )


def test_rgb_to_y_hand_computed_pixel():
    px = np.array([[[200, 100, 50]]], dtype=np.uint8)
    expected = 16 + (65.481 * 200 + 128.553 * 100 + 24.966 * 50) / 255
    assert rgb_to_y(px)[0, 0] == pytest.approx(expected, abs=1e-12)
    assert rgb_to_y(np.zeros((1, 1, 3)))[0, 0] == pytest.approx(16.0)
    assert rgb_to_y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0)
    assert rgb_to_y(px).dtype == np.float64


def test_rgb_to_y_matches_skimage_and_float_input():
    img = data.astronaut()
    y = rgb_to_y(img)
    np.testing.assert_allclose(y, rgb2ycbcr(img)[..., 0], atol=1e-4)  # skimage works in float32
    np.testing.assert_allclose(rgb_to_y(img.astype(np.float64)), y)
    with pytest.raises(ConfigError):
        rgb_to_y(img[..., :2])


def test_psnr_matches_skimage_on_y(pair):
    hr, sr = pair
    expected = peak_signal_noise_ratio(rgb_to_y(hr), rgb_to_y(sr), data_range=255)
    assert psnr(hr, sr) == pytest.approx(expected, abs=1e-3)
    assert 15 < psnr(hr, sr) < 45  # a plausible range, so the degradations really did something


def test_ssim_matches_skimage_on_y(pair):
    hr, sr = pair
    assert ssim(hr, sr) == pytest.approx(sk_ssim(rgb_to_y(hr), rgb_to_y(sr)), abs=1e-3)
    assert 0.3 < ssim(hr, sr) < 0.99


def test_rgb_mode_matches_skimage_channel_average(pair):
    hr, sr = pair
    assert psnr(hr, sr, y_channel=False) == pytest.approx(peak_signal_noise_ratio(hr, sr, data_range=255), abs=1e-3)
    expected = sk_ssim(hr.astype(np.float64), sr.astype(np.float64), channel_axis=2)
    assert ssim(hr, sr, y_channel=False) == pytest.approx(expected, abs=1e-3)


def test_crop_border():
    hr = data.astronaut()
    sr = bicubic_down_up(hr)
    y1, y2 = rgb_to_y(hr)[4:-4, 4:-4], rgb_to_y(sr)[4:-4, 4:-4]
    assert psnr(hr, sr, crop_border=4) == pytest.approx(peak_signal_noise_ratio(y1, y2, data_range=255), abs=1e-3)
    assert ssim(hr, sr, crop_border=4) == pytest.approx(sk_ssim(y1, y2), abs=1e-3)
    # Bicubic error is worst at the borders, so cropping them must change the score.
    assert psnr(hr, sr, crop_border=4) != pytest.approx(psnr(hr, sr), abs=1e-3)
    with pytest.raises(ConfigError):
        ssim(hr[:20, :20], sr[:20, :20], crop_border=5)
    with pytest.raises(ConfigError):
        psnr(hr[:8, :8], sr[:8, :8], crop_border=4)


def test_identical_images():
    img = data.chelsea()
    assert psnr(img, img) == math.inf
    assert psnr(img, img, y_channel=False) == math.inf
    assert ssim(img, img) == pytest.approx(1.0)


def test_grayscale_and_shape_mismatch():
    cam = data.camera()
    deg = bicubic_down_up(cam)
    assert psnr(cam, deg) == pytest.approx(peak_signal_noise_ratio(cam, deg, data_range=255), abs=1e-3)
    assert ssim(cam, deg) == pytest.approx(sk_ssim(cam.astype(float), deg.astype(float)), abs=1e-3)
    with pytest.raises(ConfigError):
        psnr(cam, cam[:-1])
