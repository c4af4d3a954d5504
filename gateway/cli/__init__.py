"""The `otp-gateway` command: operators' tools (schema, demo data, server, banks, customers, tokens, audit).

Every command has --help; bad input exits non-zero with one line `error: …` on stderr, never a traceback.
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import OperationalError

from ..config import ConfigError
from ..domain.errors import GatewayError, InvalidInput
from ..mail import MailError
from ..storage.sealing import SealError
from . import admin, demo, serve
from .common import describe


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """otp-gateway: OTP token registration and verification for internet banking.

    Configuration comes from GATEWAY_* environment variables (GATEWAY_DATABASE_URL, GATEWAY_SEAL_KEYS, …);
    by default everything lives in the instance folder (./instance).
    """


for command in (admin.init_db, demo.demo, serve.serve, admin.bank, admin.customer, admin.token, admin.audit,
                admin.keys, admin.mail):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one line on stderr and a non-zero exit for every expected failure."""
    try:
        cli.main(args=argv, prog_name="otp-gateway", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        click.echo(f"error: {error.format_message()} (see --help)", err=True)
        return 2
    except click.ClickException as error:
        click.echo(f"error: {error.format_message()}", err=True)
        return error.exit_code
    except InvalidInput as error:
        click.echo(f"error: invalid {error.field}: {error.reason}", err=True)
        return 2
    except GatewayError as error:
        click.echo(f"error: {describe(error)}", err=True)
        return 1
    except (ConfigError, SealError, MailError) as error:
        click.echo(f"error: {error}", err=True)
        return 1
    except OperationalError as error:
        click.echo(f"error: database unavailable or not initialised ({type(error.orig).__name__}); "
                   "run otp-gateway init-db", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
