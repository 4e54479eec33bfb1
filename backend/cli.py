"""The `accord` command. Commands of portal/ and workers/ (serve, worker, scheduler) are contributed
through the `accord.commands` entry-point group, so backend/ imports neither."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import entry_points

import click

from backend.config import get_settings


@click.group()
@click.option("--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """Accord: invoice-dispute resolution for supplier finance teams."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations (as DATABASE_ADMIN_URL's role, granting DATABASE_URL's role its rights)."""
    from backend.db.migrate import upgrade

    settings = get_settings()
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings, revision)
    click.echo(f"database is at {revision}")


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    from backend.db.migrate import new_revision

    new_revision(message)


@main.group()
def tenant() -> None:
    """Tenants (supplier organisations)."""


@tenant.command("create")
@click.option("--name", required=True, help="The organisation's name.")
@click.option("--admin-email", required=True, help="E-mail address of its first owner.")
@click.option("--admin-name", default=None)
@click.option("--country", default="CN", show_default=True)
@click.option("--time-zone", default="Asia/Shanghai", show_default=True)
@click.option("--language", default="zh-CN", show_default=True, type=click.Choice(["zh-CN", "en"]))
def tenant_create(name: str, admin_email: str, admin_name: str | None, country: str, time_zone: str, language: str) -> None:
    """Create a tenant with an owner; prints a one-time password and an API key."""
    from backend.errors import DomainError
    from backend.tenants.onboarding import create_tenant_with_key

    try:
        result = asyncio.run(
            create_tenant_with_key(
                name=name, admin_email=admin_email, admin_name=admin_name, country=country, time_zone=time_zone, language=language
            )
        )
    except DomainError as error:
        raise click.UsageError(f"{error.field or 'input'}: {error.message}") from None
    click.echo(f"tenant      {result.tenant_name} ({result.tenant_slug})")
    click.echo(f"owner       {result.admin_email}")
    if result.password:
        click.echo(f"password    {result.password}   (shown once; change it after signing in)")
    else:
        click.echo("password    (the address already had an Accord account: its password is unchanged)")
    click.echo(f"API key     {result.api_key}   (shown once)")


@main.group()
def demo() -> None:
    """Demonstration data."""


@demo.command("seed")
@click.option("--force", is_flag=True, help="Seed again even if the demo tenants exist.")
def demo_seed(force: bool) -> None:
    """Create demo tenants, teams and activity (once); print how to sign in."""
    from backend.demo import seed

    asyncio.run(seed.run(force=force, echo=click.echo))


def _register_contributed_commands() -> None:
    for entry in entry_points(group="accord.commands"):
        main.add_command(entry.load(), entry.name)


_register_contributed_commands()


if __name__ == "__main__":
    main()
