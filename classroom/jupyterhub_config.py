"""JupyterHub configuration of the local demo classroom (started by ``classroom/demo.py``).

One hub on 127.0.0.1, the Python configurable-http-proxy, one single-user Jupyter server per
user started by the hub as a local process in the course's own environment, and nbgrader's
exchange in a shared folder. The demo script sets ``CLASSROOM_RUN`` (the folder that holds the
hub's state, the exchange and every user's home), ``CLASSROOM_PORT``, ``CLASSROOM_PASSWORD``
and the users (``CLASSROOM_INSTRUCTOR``, ``CLASSROOM_STUDENTS``).

Threat model of this demo: the hub decides who may reach which server (each user's browser
session reaches only their own server; the file browser cannot leave the user's home), but every
single-user server runs as the same Unix account, so a student's *kernel* could read other homes
and the exchange. That is acceptable for a demo on one's own machine, not for a class; see the
README, "Running a class", for the set-ups that separate students.
"""

import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub)

RUN = Path(os.environ["CLASSROOM_RUN"]).resolve()
BIN = Path(sys.executable).parent
INSTRUCTORS = {os.environ["CLASSROOM_INSTRUCTOR"]}  # the users are listed in demo.py
STUDENTS = set(os.environ["CLASSROOM_STUDENTS"].split(","))

c.JupyterHub.bind_url = f"http://127.0.0.1:{os.environ.get('CLASSROOM_PORT', '8000')}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("CLASSROOM_HUB_PORT", "8081"))
c.JupyterHub.db_url = f"sqlite:///{RUN / 'hub' / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(RUN / "hub" / "cookie_secret")
c.JupyterHub.pid_file = str(RUN / "hub" / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every single-user server
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.shutdown_on_logout = False

# The Python implementation of configurable-http-proxy (same command line as the Node package).
c.ConfigurableHTTPProxy.command = [str(BIN / "configurable-http-proxy")]
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{os.environ.get('CLASSROOM_PROXY_API_PORT', '8001')}"
)

# Demo login: one shared password for the listed users only (never use this for a real class).
# Nobody is a hub admin: the instructor's powers are nbgrader's, on the instructor's own files.
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["CLASSROOM_PASSWORD"]
c.Authenticator.allowed_users = INSTRUCTORS | STUDENTS

# One local process per user, in the course's environment, with its own home folder.
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(RUN / "home" / "{username}")
c.Spawner.cmd = [str(BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
if os.geteuid() == 0:
    c.Spawner.args = ["--ServerApp.allow_root=True"]


def role_environment(spawner):
    """Per user: Jupyter's folders inside the user's home, and the nbgrader role's config."""
    name = spawner.user.name
    home = RUN / "home" / name
    role = "instructor" if name in INSTRUCTORS else "student"
    spawner.environment.update(
        JUPYTER_CONFIG_PATH=os.pathsep.join(
            [str(RUN / "config" / role), str(RUN / "config" / "common")]
        ),
        JUPYTER_CONFIG_DIR=str(home / ".jupyter"),
        JUPYTER_DATA_DIR=str(home / ".local" / "share" / "jupyter"),
        JUPYTER_RUNTIME_DIR=str(home / ".local" / "share" / "jupyter" / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(home / ".jupyter" / "lab" / "user-settings"),
        IPYTHONDIR=str(home / ".ipython"),
        MPLCONFIGDIR=str(home / ".matplotlib"),
        CLASSROOM_RUN=str(RUN),  # lets the demo script find every process it started
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    )


c.Spawner.pre_spawn_hook = role_environment
