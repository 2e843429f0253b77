"""The billing extracts: names, keys and the header each file must carry (docs/rules.md, "Files")."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Entity:
    """One extract: its key, required and optional columns, and header aliases."""

    name: str
    key: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    aliases: dict[str, str] = field(default_factory=dict)
    file_required: bool = True
    measure: str | None = None  # the quantity conserved file → bronze → silver (amounts, units)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column bronze stores for this entity, in a fixed order."""
        return self.required + self.optional


ACCOUNTS = Entity(
    name="accounts",
    key=("account_id",),
    required=(
        "account_id",
        "company_name",
        "company_address",
        "contact_person",
        "contact_phone",
        "gender",
        "joining_date",
    ),
    optional=("payment_terms_days",),
)
SKUS = Entity(
    name="skus",
    key=("item_id",),
    required=("item_id", "item_name", "item_description", "item_cost_price", "item_retail_price"),
)
# A row with ``voided`` true takes its key out of every total (see docs/rules.md, deletions).
VOID = "voided"
VOID_ALIASES = {"void": VOID, "is_void": VOID, "deleted": VOID, "is_deleted": VOID}

INVOICES = Entity(
    name="invoices",
    key=("invoice_id",),
    required=("invoice_id", "account_id", "date_issued"),
    optional=("due_date", "payment_dates", VOID),
    aliases={"payment_date": "payment_dates", **VOID_ALIASES},
)
LINE_ITEMS = Entity(
    name="invoice_line_items",
    key=("invoice_id", "item_id"),
    required=("invoice_id", "item_id", "quantity"),
    optional=(VOID,),
    aliases=dict(VOID_ALIASES),
    measure="quantity",
)
PAYMENTS = Entity(
    name="payments",
    key=("payment_id",),
    required=("payment_id", "invoice_id", "payment_date", "amount"),
    optional=(VOID,),
    aliases=dict(VOID_ALIASES),
    file_required=False,
    measure="amount",
)

# What counts towards a measure's conservation total: a plain decimal number as delivered
# (rejected values such as "1.000,50" are conserved by row count, not by amount).
NUMBER = r"^-?[0-9]{1,20}(\.[0-9]{1,6})?$"

ENTITIES: tuple[Entity, ...] = (ACCOUNTS, SKUS, INVOICES, LINE_ITEMS, PAYMENTS)
BY_NAME = {e.name: e for e in ENTITIES}
