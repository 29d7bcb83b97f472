"""Reference library for the course *Generative models through the lens of statistical physics*.

One small module per lecture topic (``ising``, ...) plus shared helpers:
``notebook`` (seeding, device, plotting style, showing source code),
``stats`` (autocorrelation times and error bars) and ``grading`` (lab test helpers).
"""

__version__ = "0.1.0"
