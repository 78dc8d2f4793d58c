"""The gateway's settings, gathered in ``Settings``."""

from __future__ import annotations

from dataclasses import dataclass

from zapdesk.settings import Concern, RuntimeSettings, S3Settings, ServiceSettings, resolve_secrets


@dataclass(frozen=True)
class Settings:
    runtime: RuntimeSettings
    services: ServiceSettings
    s3: S3Settings

    @classmethod
    def load(cls, *, create_secrets: bool = True) -> Settings:
        runtime = RuntimeSettings.load()
        return cls(
            runtime=runtime,
            services=resolve_secrets(runtime, ServiceSettings.load(), create=create_secrets),
            s3=S3Settings.load(),
        )

    def concerns(self) -> list[Concern]:
        return [self.runtime, self.services, self.s3]
