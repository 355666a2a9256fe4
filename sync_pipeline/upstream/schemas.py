"""Pydantic models of the wire formats: documentation for `/openapi.json`, and admin request bodies.

The API routes never build these models (pages are joined from pre-serialized bytes); they are
declared as response models so the published OpenAPI document matches upstream-api.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Share = Annotated[float, Field(ge=0, le=1)]


class Dealer(BaseModel):
    id: int
    name: str
    city: str
    state: str


class Car(BaseModel):
    id: int
    vin: str
    make: str
    model: str
    year: int
    trim: str | None
    price: str = Field(description='decimal string, e.g. "18450.00"')
    mileage: int
    color: str
    fuel: str
    dealer: Dealer
    features: list[str]
    listed_at: str
    updated_at: str = Field(description="volatile")
    scraped_at: str = Field(description="volatile")
    views: int = Field(description="volatile")


class CarPage(BaseModel):
    items: list[Car]
    page: int
    page_size: int
    total: int = Field(description="records in the window")


class UserSummary(BaseModel):
    id: int
    email: str
    name: str
    status: Literal["active", "suspended", "deleted"]
    plan: str
    team_id: int | None
    updated_at: str = Field(description="volatile")
    last_seen_at: str = Field(description="volatile")


class UserDetail(UserSummary):
    profile: dict[str, Any]
    settings: dict[str, Any]
    roles: list[str]
    addresses: list[dict[str, Any]]
    fetched_at: str = Field(description="volatile")


class UserPage(BaseModel):
    data: list[UserSummary]
    page: int
    per_page: int
    total: int
    total_pages: int


class Store(BaseModel):
    code: str
    name: str
    region: str
    currency: str
    status: str
    updated_at: str = Field(description="volatile")


class StoreUser(BaseModel):
    id: int
    store_code: str
    handle: str
    display_name: str
    role: str
    followers: int
    joined_at: str
    updated_at: str = Field(description="volatile")


class Video(BaseModel):
    id: int
    store_code: str
    title: str
    duration_s: int
    views: int
    likes: int
    comments: int
    shares: int
    published_at: str
    updated_at: str = Field(description="volatile")


class StorePage(BaseModel):
    data: list[Store]
    next_cursor: str | None


class StoreUserPage(BaseModel):
    data: list[StoreUser]
    next_cursor: str | None


class VideoPage(BaseModel):
    data: list[Video]
    next_cursor: str | None


class Character(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: int
    name: str
    realm: str = Field(description="slug")
    class_: str = Field(alias="class")
    spec: str
    faction: str


class GameStats(BaseModel):
    played: int
    won: int
    lost: int


class Entry(BaseModel):
    rank: int
    rating: int
    character: Character
    stats: GameStats


class Leaderboard(BaseModel):
    season: int
    region: str
    bracket: str
    snapshot_at: str
    entries: list[Entry]


class Item(BaseModel):
    id: int
    name: str
    quality: str
    item_level: int


class EquippedItem(BaseModel):
    slot: str
    item: Item
    enchantments: list[str]


class Equipment(BaseModel):
    character_id: int
    equipped_items: list[EquippedItem]


class Workspace(BaseModel):
    id: str
    name: str


class WorkspaceList(BaseModel):
    data: list[Workspace]


class Contact(BaseModel):
    id: str = Field(description="uuid")
    workspace_id: str
    name: str
    email: str
    stage: Literal["lead", "mql", "sql", "opportunity", "customer", "churned"]
    owner_id: int | None
    custom_fields: dict[str, str | int | float | bool | None]
    updated_at: str = Field(description="volatile")


class ContactPage(BaseModel):
    data: list[Contact]
    next_cursor: str | None


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail


class ResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seed: int = 1
    sizes: dict[str, int] = Field(
        default_factory=dict,
        description="cars, users, stores, leaderboard_entries, contacts, workspaces",
    )


class MutateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["cars", "users", "stores", "store_users", "store_videos", "pvp", "contacts"]
    update: float = Field(0.0, description="share of records whose business fields change")
    touch: float = Field(0.0, description="share of records whose volatile fields only change")
    delete: float = Field(0.0, description="share of records deleted")
    insert: float = Field(0.0, description="number of new records (a value below 1 is a share)")


class ChurnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Literal["cars", "users", "stores", "store_users", "store_videos", "contacts"]
    seconds: float = Field(20.0, description="how long to keep changing records")
    per_second: dict[str, float] = Field(
        default_factory=dict, description="records per second per kind: delete, insert, update"
    )


class FaultsRequest(BaseModel):
    """Omitted keys keep their value; `profile` first resets the source(s) to that profile."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["cars", "users", "stores", "pvp", "contacts", "*"] = "*"
    endpoint: str | None = Field(
        None, description="narrow rps/burst/latency_ms to one endpoint, e.g. users.detail"
    )
    profile: Literal["none", "seed", "hostile"] | None = None
    rps: float | None = Field(
        None, gt=0, description="requests per second per token; null: unlimited"
    )
    burst: float | None = Field(None, ge=1, description="bucket size; default max(1, rps)")
    latency_ms: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] | None = Field(
        None, description="[p50, p99]"
    )
    error_rate: Share | None = Field(None, description="500/502/503/504")
    timeout_rate: Share | None = Field(
        None, description="hang for timeout_s, then drop the connection"
    )
    malformed_rate: Share | None = Field(None, description="truncated or non-JSON body")
    drop_rate: Share | None = Field(None, description="connection dropped mid-body")
    storm_rate: Share | None = Field(None, description="a 429 storm starts")
    shift_rate: Share | None = Field(None, description="a later page repeats the record before it")
    timeout_s: float | None = Field(None, ge=0)
    storm_s: tuple[Annotated[float, Field(ge=0)], Annotated[float, Field(ge=0)]] | None = None
    data_oddities: bool | None = None
    vanishing_users: Share | None = None
    expired_store_share: Share | None = None
    expired_stores: list[str] | None = None
