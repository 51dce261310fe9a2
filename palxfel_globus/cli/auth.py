"""``palxfel-globus login | logout | whoami``."""

from palxfel_globus.cli.output import console, print_json, say
from palxfel_globus.cli.session import ConfigOption, JsonOption, session


def _config(config):  # type: ignore[no-untyped-def]
    from palxfel_globus.config import load_config

    return load_config(config, check_tree=False)


def login(config: ConfigOption = None) -> None:
    """Log in to Globus once for deploy, the timer and the runs (Transfer, Compute, Flows, Timers, and Search
    with [catalog])."""
    from palxfel_globus.globus.auth import token_file, token_file_problem
    from palxfel_globus.globus.errors import globus_errors

    current = session(_config(config))
    with globus_errors():
        current.app.login(force=True)
        who = current.auth.userinfo()
    if token_file_problem(current.app):
        token_file(current.app).chmod(0o600)
        say(f"The token file {token_file(current.app)} could be read by others; it is now yours alone (mode 600).")
    say(f"Logged in as {who.get('preferred_username')} ({who.get('sub')}).")


def logout(config: ConfigOption = None) -> None:
    """Revoke and remove the stored tokens."""
    from palxfel_globus.globus.errors import globus_errors

    with globus_errors():
        session(_config(config)).app.logout()
    console.print("Logged out; the stored tokens were revoked and removed.")


def whoami(config: ConfigOption = None, json_output: JsonOption = False) -> None:
    """The Globus identity the commands act as."""
    from palxfel_globus.globus.errors import globus_errors

    with globus_errors():
        who = session(_config(config)).auth.userinfo()
    if json_output:
        print_json({"username": who.get("preferred_username"), "identity_id": who.get("sub")})
    else:
        say(f"{who.get('preferred_username')} ({who.get('sub')})")
