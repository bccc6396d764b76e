"""The default event catalog: the union of the source documents' events.

Tripletex's events (every verb it lists), Orderspace's and Booqable's, plus
Hookline's own ``subscription.disabled``. The catalog is data: it is loaded into
PostgreSQL at start when a name is missing there, and admins change it with
``PUT /v2/admin/event/{eventType}``. Names are ``object.verb``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")

_CRUD = ("create", "update", "delete")

# object: (payload model, verbs, description of the object)
_TRIPLETEX: dict[str, tuple[str | None, tuple[str, ...], str]] = {
    "supplier": ("Supplier", _CRUD, "A supplier"),
    "employee": ("Employee", _CRUD, "An employee"),
    "order": ("Order", _CRUD, "An order"),
    "product": ("Product", _CRUD, "A product"),
    "account": ("Account", _CRUD, "A booking account"),
    "project": ("Project", _CRUD, "A project"),
    "customer": ("Customer", _CRUD, "A customer"),
    "contact": ("Contact", _CRUD, "A contact"),
    "archiverelation": ("ArchiveRelation", _CRUD, "A document archive relation"),
    "voucher": ("Voucher", _CRUD, "A voucher"),
}

_PAST = {"create": "created", "update": "updated", "delete": "deleted"}

_OTHERS: dict[str, tuple[str | None, str]] = {
    "invoice.charged": ("Invoice", "A new invoice has been created and charged"),
    "notification.sent": ("Notification", "A notification has been sent to the employee"),
    "voucherstatus.ready": ("VoucherStatus", "A voucher is ready to be processed"),
    # Orderspace
    "customer.created": ("Customer", "A customer has been created"),
    "customer.updated": ("Customer", "A customer has been updated"),
    "customer.deleted": ("Customer", "A customer has been deleted"),
    "dispatch.created": ("Dispatch", "A dispatch has been created"),
    "inventory_level.updated": ("InventoryLevel", "An inventory level has changed"),
    "invoice.created": ("Invoice", "An invoice has been created"),
    "invoice.deleted": ("Invoice", "An invoice has been deleted"),
    "payment.created": ("Payment", "A payment has been created"),
    "product.created": ("Product", "A product has been created"),
    "product.updated": ("Product", "A product has been updated"),
    "product.deleted": ("Product", "A product has been deleted"),
    "order.created": ("Order", "An order has been created"),
    "order.updated": ("Order", "An order has been updated"),
    "order.deleted": ("Order", "An order has been deleted"),
    # Booqable
    "app.configured": (None, "The app has been configured"),
    "app.installed": (None, "The app has been installed"),
    "app.plan_changed": (None, "The app's plan has changed"),
    "app.uninstalled": (None, "The app has been uninstalled"),
    "cart.completed_checkout": ("Cart", "A cart has completed checkout"),
    "contract.archived": ("Contract", "A contract has been archived"),
    "contract.confirmed": ("Contract", "A contract has been confirmed"),
    "contract.created": ("Contract", "A contract has been created"),
    "contract.signed": ("Contract", "A contract has been signed"),
    "contract.updated": ("Contract", "A contract has been updated"),
    "customer.archived": ("Customer", "A customer has been archived"),
    "invoice.archived": ("Invoice", "An invoice has been archived"),
    "invoice.finalized": ("Invoice", "An invoice has been finalized"),
    "invoice.revised": ("Invoice", "An invoice has been revised"),
    "invoice.updated": ("Invoice", "An invoice has been updated"),
    "order.reserved": ("Order", "An order has been reserved"),
    "order.saved_as_concept": ("Order", "An order has been saved as a concept"),
    "order.started": ("Order", "An order has been started"),
    "order.stopped": ("Order", "An order has been stopped"),
    "payment.completed": ("Payment", "A payment has been completed"),
    "product_group.archived": ("ProductGroup", "A product group has been archived"),
    "product_group.created": ("ProductGroup", "A product group has been created"),
    "product_group.updated": ("ProductGroup", "A product group has been updated"),
    "quote.archived": ("Quote", "A quote has been archived"),
    "quote.confirmed": ("Quote", "A quote has been confirmed"),
    "quote.created": ("Quote", "A quote has been created"),
    "quote.signed": ("Quote", "A quote has been signed"),
    "quote.updated": ("Quote", "A quote has been updated"),
    # Hookline's own operational event
    "subscription.disabled": ("Subscription", "Hookline disabled one of your subscriptions"),
}

_PLURALS = {"dispatch": "dispatches", "voucherstatus": "voucherstatuses"}


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    payload_model: str | None
    plural: str


def plural_of(object_type: str) -> str:
    return _PLURALS.get(object_type, object_type + "s")


# Plurals an admin set, by event name: filled in each process from hookline.catalog
# (router, deliverer) or from PostgreSQL (API), so that batches use them.
_ADMIN_PLURALS: dict[str, str] = {}


def set_plural(event: str, plural: str) -> None:
    _ADMIN_PLURALS[event] = plural


def plural_for(event: str) -> str:
    """The key of a batch of ``event``'s objects: the catalog's plural, as an admin set
    it or else by the default rule."""
    return _ADMIN_PLURALS.get(event) or plural_of(event.split(".", 1)[0])


def default_catalog() -> list[EventType]:
    found: dict[str, EventType] = {}
    for obj, (model, verbs, what) in _TRIPLETEX.items():
        for verb in verbs:
            name = f"{obj}.{verb}"
            found[name] = EventType(name, f"{what} has been {_PAST[verb]}", model, plural_of(obj))
    for name, (model, description) in _OTHERS.items():
        found[name] = EventType(name, description, model, plural_of(name.split(".")[0]))
    return sorted(found.values(), key=lambda e: e.name)


_DEFAULT_NAMES: frozenset[str] | None = None


def is_known(event: str) -> bool:
    """Whether ``event`` is in this process's catalog: the default one, or set by an
    admin (as far as ``set_plural`` was told, from ``hookline.catalog``)."""
    global _DEFAULT_NAMES  # noqa: PLW0603 - computed once, on first use
    if _DEFAULT_NAMES is None:
        _DEFAULT_NAMES = frozenset(e.name for e in default_catalog())
    return event in _DEFAULT_NAMES or event in _ADMIN_PLURALS
