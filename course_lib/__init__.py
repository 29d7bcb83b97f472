"""Reference library for the course *Generative models through the lens of statistical physics*.

One small module per lecture topic (``ising``, ``hopfield``, ``sampling``, ``latent``, ``flows``,
``diffusion``, ``memorization``; ``variational`` and ``lattice`` for the closing lecture on
generative models as tools of physics) plus shared helpers:
``rng`` (the ``generator=`` argument and draws from it), ``checks`` (argument checks), ``stats``
(Gaussian log-density, AUC, autocorrelation times, error bars, two-sample distances), ``optim``
(the Adam training loop ``minimize``), ``data`` (toy data sets), ``notebook`` (seeding, device,
plotting style, progress bars, showing source code) and ``grading`` (lab test helpers).
"""

__version__ = "0.1.0"

# Lecture notebook (lectures/<name>.ipynb, labs/source/<name>/) -> the course_lib module behind it.
LECTURE_MODULES: dict[str, str] = {
    "01_ising": "ising",
    "02_hopfield": "hopfield",
    "03_langevin": "sampling",
    "04_pca_vae": "latent",
    "05_flows": "flows",
    "06_diffusion": "diffusion",
    "07_memorization": "memorization",
    "08_physics": "variational",   # its part 2 uses lattice.py
}
