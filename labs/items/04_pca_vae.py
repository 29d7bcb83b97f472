"""Graded items of lab 04 (PCA, PPCA, VAE). Read by the grader only (see course_grader/items.py)."""

import numpy as np
import torch

from course_grader.items import Case, Item
from course_lib import latent as lt
from course_lib.data import load_digits_split

HIDE = {
    "latent": [
        "PCA",
        "PPCA",
        "LinearVAE.elbo",
        "LinearVAE.fit",
        "VAE.elbo",
        "VAE.iwae",
        "VAE.log_weights",
        "train_vae",
    ]
}
LINEAR_PARAMS = ("V", "c", "log_s2", "W", "mu", "log_sigma2")


def _digits():
    return load_digits_split().train / 16.0


def ppca_cases(rng):
    x_all = _digits()
    cases = []
    for q in (int(rng.integers(1, 4)), int(rng.integers(8, 16)), int(rng.integers(30, 45))):
        x = x_all[rng.choice(len(x_all), size=500, replace=False)]
        ref = lt.PPCA.fit(x, q)
        ll = ref.log_prob(x[:100]).sum()

        def check(out, ref=ref, ll=ll, q=q):
            W, s2 = out["W"].astype(float), float(out["sigma2"].ravel()[0])
            return (
                W.shape == (64, q)
                and np.allclose(out["mu"], ref.mean, atol=1e-10)
                and abs(s2 - ref.sigma2) < 1e-10
                and np.allclose(W @ W.T, ref.W @ ref.W.T, atol=1e-8)
                and abs(float(out["ll"].ravel()[0]) - ll) < 1e-6
            )

        cases.append(Case({"x": x, "q": np.int64(q)}, check))
    return cases


def kl_cases(rng):
    m, v = rng.normal(size=(10, 6)), rng.normal(size=(10, 6))
    q = torch.distributions.Normal(torch.tensor(m), torch.exp(0.5 * torch.tensor(v)))
    p = torch.distributions.Normal(
        torch.zeros(10, 6, dtype=torch.float64), torch.ones(10, 6, dtype=torch.float64)
    )
    expected = torch.distributions.kl_divergence(q, p).sum(-1).numpy()
    return [
        Case(
            {"m": m, "v": v},
            lambda out: (
                out["result"].shape == (10,) and np.allclose(out["result"], expected, atol=1e-5)
            ),
        ),
        Case(
            {"m": np.zeros((3, 4)), "v": np.zeros((3, 4))},
            lambda out: out["result"].shape == (3,) and np.allclose(out["result"], 0, atol=1e-7),
        ),
    ]


def elbo_cases(rng):
    seed = int(rng.integers(2**31))
    torch.manual_seed(seed)
    model = lt.VAE(latent_dim=4, hidden=32).eval()
    with torch.no_grad():
        model.encoder[-1].bias[:4] += 3.0
    rows = rng.choice(len(load_digits_split().train), size=20, replace=False)
    batch = torch.as_tensor(load_digits_split().train[rows])
    with torch.no_grad():
        reference = torch.stack([model.elbo(batch) for _ in range(400)]).numpy()

    def check(out):
        mine = out["values"]
        if mine.shape != (400, 20) or not float(out["encoder_grad"].ravel()[0]) > 0:
            return False
        se = np.sqrt((mine.var(0) + reference.var(0)) / 400)
        return bool(np.all(np.abs(mine.mean(0) - reference.mean(0)) < 5 * se + 1e-3))

    call = (
        "import torch\nfrom course_lib import latent as lt\ntorch.manual_seed(int(seed))\n"
        "model = lt.VAE(latent_dim=4, hidden=32).eval()\n"
        "with torch.no_grad():\n    model.encoder[-1].bias[:4] += 3.0\nbatch = torch.as_tensor(x)\n"
        "value = reparameterized_elbo(model, batch)\nvalue.mean().backward()\n"
        "encoder_grad = sum(p.grad.abs().sum().item() for p in model.encoder.parameters() "
        "if p.grad is not None)\n"
        "with torch.no_grad():\n"
        "    values = torch.stack([reparameterized_elbo(model, batch) for _ in range(400)])\n"
        "result = {'values': values, 'encoder_grad': encoder_grad}"
    )
    return [Case({"seed": np.int64(seed), "x": batch.numpy()}, check, call=call)]


def _linear_params(rng, q):
    model = lt.LinearVAE(64, q, generator=int(rng.integers(2**31)))
    with torch.no_grad():
        model.log_sigma2.fill_(float(rng.uniform(-3, 0)))
        model.log_s2.copy_(torch.tensor(rng.uniform(-1, 1, size=q)))
        model.mu.copy_(torch.tensor(rng.uniform(0, 0.5, size=64)))
    return model


def linear_cases(rng):
    x = _digits()[:50]
    cases = []
    for q in (3, int(rng.integers(4, 8))):
        model = _linear_params(rng, q)
        with torch.no_grad():
            expected = model.elbo(torch.as_tensor(x)).numpy()
        inputs = {"x": x, **{name: getattr(model, name).detach().numpy() for name in LINEAR_PARAMS}}
        cases.append(
            Case(
                inputs,
                lambda out, e=expected: (
                    out["result"].shape == e.shape
                    and np.allclose(out["result"], e, rtol=1e-8, atol=1e-8)
                ),
            )
        )
    return cases


def reaches_cases(rng):
    x = _digits()[:500]
    mu_ref = lt.PPCA.fit(x, 4)
    best = mu_ref.log_prob(x).sum() / len(x)

    def check(out):
        model = lt.LinearVAE(64, 4)
        try:
            with torch.no_grad():
                for name in LINEAR_PARAMS:
                    value = torch.as_tensor(out[name], dtype=torch.float64)
                    if value.shape != getattr(model, name).shape:
                        return False
                    getattr(model, name).copy_(value)
                elbo = model.elbo(torch.as_tensor(x)).mean().item()
        except KeyError:
            return False
        return elbo <= best + 1e-9 and abs(elbo - best) < 1e-3

    call = "result = {name: p for name, p in zip(" + repr(LINEAR_PARAMS) + ", params)}"
    return [Case({"dummy": np.int64(0)}, check, call=call)]


ITEMS = [
    Item(
        "test_ppca",
        3,
        ("ppca_fit", "ppca_log_likelihood"),
        "mu, W, sigma2 = ppca_fit(x, int(q))\n"
        "result = {'mu': mu, 'W': W, 'sigma2': sigma2, "
        "'ll': ppca_log_likelihood(x[:100], mu, W, sigma2)}",
        ppca_cases,
        "ppca_fit or ppca_log_likelihood does not give the maximum-likelihood PPCA "
        "(mu, W W^T, sigma2, log-likelihood) at other q and data",
    ),
    Item(
        "test_kl",
        2,
        ("gaussian_kl",),
        "import torch\nresult = gaussian_kl(torch.as_tensor(m), torch.as_tensor(v))",
        kl_cases,
        "gaussian_kl does not match KL(N(mean, diag exp(log_var)) || N(0, I)) per row",
    ),
    Item(
        "test_elbo",
        3,
        ("reparameterized_elbo",),
        "",
        elbo_cases,
        "reparameterized_elbo is not an unbiased, differentiable one-sample ELBO (its average "
        "differs from the reference, or no gradient reaches the encoder)",
    ),
    Item(
        "test_linear_vae",
        2,
        ("linear_vae_elbo",),
        "import torch\nresult = linear_vae_elbo(torch.as_tensor(x), "
        "*[torch.as_tensor(a) for a in (V, c, log_s2, W, mu, log_sigma2)])",
        linear_cases,
        "linear_vae_elbo does not match the closed-form ELBO of the linear VAE at other parameters",
    ),
    Item(
        "test_reaches_ppca",
        2,
        ("linear_vae_elbo",),
        "",
        reaches_cases,
        "the parameters found by maximizing your linear-VAE ELBO do not reach the PPCA "
        "log-likelihood",
    ),
]
