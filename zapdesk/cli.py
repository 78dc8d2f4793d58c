"""The ``zapdesk`` command. Each subcommand imports what it runs, and nothing more."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence

from zapdesk.errors import ZapdeskError
from zapdesk.settings import (
    Concern,
    ConfigError,
    RuntimeSettings,
    describe,
    markdown_table,
    resolve_secrets,
)


def cmd_up(args: argparse.Namespace) -> int:
    from zapdesk.launcher import up

    return up(simulate=args.simulate)


def cmd_core(args: argparse.Namespace) -> int:
    from core.app import create_app
    from core.settings import Settings
    from zapdesk.log import configure_logging
    from zapdesk.web import serve

    settings = Settings.load()
    configure_logging(settings.runtime.log_level, settings.runtime.log_format, service="core")
    workers = settings.web.core_workers
    if workers > 1 and not args.worker:
        if settings.redis.redis_url is None:
            raise ConfigError(
                f"ZAPDESK_CORE_WORKERS={workers} needs ZAPDESK_REDIS_URL: each worker has its own "
                "websockets, and only the Redis bus reaches them all"
            )
        from zapdesk.launcher import run_workers

        return run_workers("core", ["core", "--worker"], workers)
    services = settings.services
    return serve(create_app(settings), services.core_host, services.core_port, shared=args.worker)


def cmd_gateway(args: argparse.Namespace) -> int:
    from gateway.app import create_app
    from gateway.settings import Settings
    from zapdesk.log import configure_logging
    from zapdesk.web import serve

    settings = Settings.load()
    configure_logging(settings.runtime.log_level, settings.runtime.log_format, service="gateway")
    return serve(
        create_app(settings), settings.services.gateway_host, settings.services.gateway_port
    )


def cmd_sim(args: argparse.Namespace) -> int:
    from sessions.sim.server import run
    from zapdesk.log import configure_logging

    runtime = RuntimeSettings.load()
    configure_logging(runtime.log_level, runtime.log_format, service="sim")
    return run(args.host, args.port, demo=args.demo)


def cmd_migrate(args: argparse.Namespace) -> int:
    from core.settings import Settings
    from core.storage.migrations import upgrade
    from zapdesk.settings import masked

    settings = Settings.load(create_secrets=False)
    print(f"migrating {masked(settings.database_url)} to {args.revision}")
    upgrade(settings.database_url, args.revision)
    return 0


def all_concerns() -> list[type[Concern]]:
    """Every settings class, in the order the configuration reference lists them."""
    from core.settings import (
        AuthSettings,
        CopilotSettings,
        DatabaseSettings,
        InboxSettings,
        MediaSettings,
        OutboundSettings,
        RealtimeSettings,
        RedisSettings,
        WebSettings,
    )
    from gateway.settings import GatewaySettings
    from zapdesk.settings import S3Settings, ServiceSettings

    return [
        RuntimeSettings,
        ServiceSettings,
        DatabaseSettings,
        RedisSettings,
        WebSettings,
        AuthSettings,
        InboxSettings,
        OutboundSettings,
        MediaSettings,
        RealtimeSettings,
        CopilotSettings,
        GatewaySettings,
        S3Settings,
    ]


def cmd_config(args: argparse.Namespace) -> int:
    if args.markdown:
        print(markdown_table(all_concerns()), end="")
        return 0
    runtime = RuntimeSettings.load()
    for cls in all_concerns():
        # Showing the configuration creates nothing: secrets not yet generated say so.
        concern = resolve_secrets(runtime, cls.load(), create=False)
        print(f"# {cls.title}")
        for name, shown in describe(concern, runtime):
            print(f"{name}={shown}")
        print()
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    from core.auth.accounts import create_user
    from core.settings import Settings
    from core.storage.models import Role
    from zapdesk.db import create_engine, session_factory

    settings = Settings.load(create_secrets=False)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else None
    if password is None:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != password:
            print("zapdesk: the passwords differ", file=sys.stderr)
            return 2

    async def create() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine).begin() as session:
                await create_user(
                    session,
                    email=args.email,
                    name=args.name,
                    role=Role(args.role),
                    password=password,
                )
        finally:
            await engine.dispose()

    asyncio.run(create())
    print(f"created {args.role} {args.email.strip().lower()}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zapdesk", description="Self-hosted WhatsApp customer-service desk."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=text, description=text)
        command.set_defaults(func=func)
        return command

    up = add("up", cmd_up, "Run core and gateway on this machine with the embedded defaults.")
    up.add_argument(
        "--simulate",
        action="store_true",
        help="use the simulated WhatsApp (with demo customers) instead of real phones",
    )
    core = add("core", cmd_core, "Run the desk service (API, websocket, web UI).")
    # One of ZAPDESK_CORE_WORKERS processes started by `zapdesk core` itself: share the port.
    core.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    add("gateway", cmd_gateway, "Run the WhatsApp session gateway.")
    sim = add("sim", cmd_sim, "Run the simulated WhatsApp (for demos, tests and benchmarks).")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8090)
    sim.add_argument(
        "--demo",
        action="store_true",
        help="simulated customers write to linked numbers now and then",
    )
    migrate = add("migrate", cmd_migrate, "Apply the database migrations.")
    migrate.add_argument("revision", nargs="?", default="head")
    config = add("config", cmd_config, "Print the effective configuration, secrets masked.")
    config.add_argument("--markdown", action="store_true", help="the reference table instead")
    user = add("user", cmd_user_create, "Manage users.")
    user_sub = user.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = user_sub.add_parser("create", help="Create a user.")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--role", choices=["admin", "supervisor", "attendant"], default="attendant")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"zapdesk: {exc}", file=sys.stderr)
        return 2
    except ZapdeskError as exc:
        print(f"zapdesk: {exc.message}", file=sys.stderr)
        return 1
    return result
