"""Who is acting: passed explicitly to every core operation (the core never reads the request)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    label: str
    user_id: int | None = None
    ip: str = ""
    device: str = ""

    @classmethod
    def system(cls, name: str = "system") -> "Actor":
        return cls(label=f"system:{name}")

    @classmethod
    def for_user(cls, user, ip: str = "", device: str = "") -> "Actor":
        return cls(label=f"user:{user.email}", user_id=user.id, ip=ip or "", device=(device or "")[:200])
