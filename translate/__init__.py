"""translate: image-to-image translation (pix2pix, CycleGAN, DiscoGAN, SRGAN) on one shared engine.

Importing the package is cheap on purpose: heavy libraries (torch, accelerate, albumentations)
are imported inside the modules that need them, so the CLI answers `--help` instantly.
"""

__version__ = "0.1.0"
