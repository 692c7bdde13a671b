"""Companies table: pk "<tenant>#<connection>", sk company_id (the vendor's client id).

The key is the vendor's own id, so importing the same company twice can only ever update it.
Writes are conditional on ``revision`` (optimistic locking), as for connections.
"""
from __future__ import annotations

from collections.abc import Callable

from ..errors import Conflict, NotFound
from ..models.common import utcnow
from ..models.companies import Company
from ..settings import get_settings
from .dynamo import ddb, from_item, is_conditional_failure, query_all, to_item, values


def partition(tenant_id: str, connection_id: str) -> str:
    return f"{tenant_id}#{connection_id}"


def _table() -> str:
    return get_settings().companies_table


def _to_item(company: Company) -> dict:
    return to_item({
        "pk": partition(company.tenant_id, company.connection_id), "company_id": company.company_id,
        "revision": company.revision, "status": company.status.value, "body": company.model_dump_json(),
    })


def _from_data(data: dict) -> Company:
    return Company.model_validate_json(data["body"])


def get(tenant_id: str, connection_id: str, company_id: str) -> Company:
    item = ddb().get_item(TableName=_table(), ConsistentRead=True,
                          Key=values({"pk": partition(tenant_id, connection_id), "company_id": company_id})).get("Item")
    if not item:
        raise NotFound(f"company {company_id} not found")
    return _from_data(from_item(item))


def list_for_connection(tenant_id: str, connection_id: str) -> list[Company]:
    items = query_all(TableName=_table(), KeyConditionExpression="pk = :pk", ConsistentRead=True,
                      ExpressionAttributeValues=values({":pk": partition(tenant_id, connection_id)}))
    return sorted((_from_data(i) for i in items), key=lambda c: (c.name.lower(), c.company_id))


def create(company: Company) -> bool:
    """Add a newly imported company; False if it exists already (then nothing is written)."""
    try:
        ddb().put_item(TableName=_table(), Item=_to_item(company),
                       ConditionExpression="attribute_not_exists(company_id)")
        return True
    except Exception as exc:
        if is_conditional_failure(exc):
            return False
        raise


def update(tenant_id: str, connection_id: str, company_id: str, change: Callable[[Company], bool | None],
           attempts: int = 8) -> Company:
    """Read, apply ``change`` (False: write nothing), write back only if unchanged meanwhile."""
    for _ in range(attempts):
        company = get(tenant_id, connection_id, company_id)
        if change(company) is False:
            return company
        updated = company.model_copy(update={"revision": company.revision + 1, "updated_at": utcnow()})
        try:
            ddb().put_item(TableName=_table(), Item=_to_item(updated),
                           ConditionExpression="revision = :seen",
                           ExpressionAttributeValues=values({":seen": company.revision}))
            return updated
        except Exception as exc:
            if not is_conditional_failure(exc):
                raise
    raise Conflict(f"company {company_id} is being changed by someone else; try again")


def delete_all(tenant_id: str, connection_id: str) -> None:
    for company in list_for_connection(tenant_id, connection_id):
        ddb().delete_item(TableName=_table(),
                          Key=values({"pk": partition(tenant_id, connection_id), "company_id": company.company_id}))
