"""The `otp-gateway` command: operators' tools (schema, demo data, server, banks, customers, tokens, audit).

Every command has --help; bad input exits non-zero with one line `error: …` on stderr, never a traceback:
2 for a malformed command line or value, 1 for everything else (unknown bank, existing customer, database).
"""

from __future__ import annotations

import sys

import click
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from ..config import ConfigError
from ..domain.errors import GatewayError, InvalidInput
from ..mail import MailError
from ..storage.sealing import SealError
from . import admin, demo, serve, tokens
from .common import describe

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """otp-gateway: OTP token registration and verification for internet banking.

    Configuration comes from GATEWAY_* environment variables (GATEWAY_DATABASE_URL, GATEWAY_SEAL_KEYS, …);
    by default everything lives in the instance folder (./instance, or GATEWAY_INSTANCE_PATH).
    """


for command in (admin.init_db, demo.demo, serve.serve, admin.bank, admin.customer, tokens.token, tokens.audit,
                tokens.keys, tokens.mail):
    cli.add_command(command)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point: one line on stderr and a non-zero exit for every expected failure."""
    try:
        # Without standalone mode click returns a command's ctx.exit(code) and raises the rest to us.
        result = cli.main(args=argv, prog_name="otp-gateway", standalone_mode=False)
    except click.exceptions.NoArgsIsHelpError as error:
        # `otp-gateway` or `otp-gateway bank` alone: the help is what was asked for.
        click.echo(error.ctx.get_help())
        return 0
    except click.exceptions.Abort:
        click.echo("error: aborted", err=True)
        return 1
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.UsageError as error:
        click.echo(f"error: {_one_line(error.format_message())} (see --help)", err=True)
        return 2
    except click.ClickException as error:
        click.echo(f"error: {_one_line(error.format_message())}", err=True)
        return error.exit_code
    except InvalidInput as error:
        click.echo(f"error: {describe(error)}", err=True)
        return 2
    except GatewayError as error:
        click.echo(f"error: {describe(error)}", err=True)
        return 1
    except (ConfigError, SealError, MailError) as error:
        click.echo(f"error: {_one_line(str(error))}", err=True)
        return 1
    except ArgumentError as error:  # a DATABASE_URL SQLAlchemy cannot parse or has no driver for
        click.echo(f"error: bad database URL: {_one_line(str(error))}", err=True)
        return 1
    except SQLAlchemyError as error:
        click.echo(f"error: {_database_problem(error)}", err=True)
        return 1
    except OSError as error:  # e.g. an instance folder that cannot be written
        click.echo(f"error: {error.strerror or error}{f': {error.filename}' if error.filename else ''}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def _database_problem(error: SQLAlchemyError) -> str:
    """The driver's first line, and what to do when the schema is missing (SQLite and PostgreSQL say it apart)."""
    original = error.orig if isinstance(error, DBAPIError) else error
    detail = _one_line(str(original))
    if "no such table" in detail or ("relation" in detail and "does not exist" in detail):
        return f"the database has no schema yet; run otp-gateway init-db ({detail})"
    return f"database unavailable: {detail}"


def _one_line(text: str) -> str:
    """The first non-empty line: a driver's or click's message may span several."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "unknown problem")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
