"""The named choices of settings (norms, losses, precisions, ...) and kinds of method, torch-free.

Below both `config` (which offers them as CLI choices) and `nets` (which builds what they name), so
neither needs the other for them.
"""

NORM_CHOICES = ("instance", "batch", "none")
D_NORM_CHOICES = (*NORM_CHOICES, "spectral")
INIT_CHOICES = ("normal", "xavier", "kaiming", "orthogonal", "default")
GAN_LOSS_CHOICES = ("vanilla", "lsgan", "hinge", "wgangp")
PRECISION_CHOICES = ("no", "fp16", "bf16")
ON_NAN_CHOICES = ("stop", "skip")
DIRECTION_CHOICES = ("a2b", "b2a")
RECON_CHOICES = ("mse", "l1")
SR_SKIP_CHOICES = ("bicubic", "none")
ON_OFF_AUTO = ("auto", "on", "off")
COMPILE_CHOICES = ("off", "networks", "step")
REPORT_TO_CHOICES = ("auto", "tensorboard", "wandb", "all", "none")
SR_METHODS = ("srresnet", "srgan", "external-sr")  # methods whose models upscale (external-sr: spandrel files)
