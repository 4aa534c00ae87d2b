"""The catalogue from the retailer's PIM: products created or replaced by SKU, read, listed, sent in batches."""

from flask.views import MethodView
from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from app.api import api_actor, api_blueprint, require_scope
from app.api.idempotency import idempotent
from app.api.schemas import (
    ApiErrorSchema,
    ProductBatchOutSchema,
    ProductBatchSchema,
    ProductInSchema,
    ProductOutSchema,
    ProductPageSchema,
    ProductQuerySchema,
)
from app.api.stock import IDEMPOTENCY_HEADER
from app.core.errors import N_, InvalidInput, NotFound
from app.core.inventory import products
from app.core.models import Product
from app.core.uow import unit_of_work
from app.extensions import db

blp = api_blueprint("api_products", "/api/v1/products", "The catalogue: products by SKU, from the PIM")
MAX_SKU = 64


def product_out(product: Product) -> dict:
    return products.content(product) | {"created_at": product.created_at, "updated_at": product.updated_at}


@blp.route("")
class Products(MethodView):
    @require_scope("products:read")
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, ProductPageSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Products in the order they were created, filtered; follow next_cursor for the next page."""
        stmt = select(Product).options(selectinload(Product.barcodes))
        if "q" in query:
            q = query["q"].strip()
            stmt = stmt.where(
                or_(
                    Product.sku.icontains(q, autoescape=True),
                    Product.name.icontains(q, autoescape=True),
                    Product.gtin.contains(q, autoescape=True),
                )
            )
        if "active" in query:
            stmt = stmt.where(Product.active.is_(query["active"]))
        if "updated_since" in query:
            stmt = stmt.where(Product.updated_at >= query["updated_since"])
        if "cursor" in query:
            stmt = stmt.where(Product.id > query["cursor"])
        found = db.session.scalars(stmt.order_by(Product.id).limit(query["limit"] + 1)).all()
        page = found[: query["limit"]]
        more = len(found) > query["limit"]
        return {"items": [product_out(p) for p in page], "next_cursor": page[-1].id if more else None}


@blp.route("/<sku>")
class ProductBySku(MethodView):
    @require_scope("products:read")
    @blp.response(200, ProductOutSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, sku):
        """One product by its SKU, active or not."""
        product = db.session.scalar(select(Product).where(Product.sku == sku)) if len(sku) <= MAX_SKU else None
        if product is None:
            raise NotFound(N_("Unknown SKU."))
        return product_out(product)

    @require_scope("products:write")
    @blp.arguments(ProductInSchema)
    @blp.response(200, ProductOutSchema, description="Updated, or unchanged: the same content was sent before")
    @blp.alt_response(201, schema=ProductOutSchema, description="Created")
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def put(self, body, sku):
        """Create or replace a product (a field left out is emptied); the same content again changes nothing.
        Send `active: false` to stop selling it: a product is never deleted."""
        if not sku.strip() or len(sku) > MAX_SKU or sku != sku.strip():
            raise InvalidInput(N_("A SKU has 1 to 64 characters, without spaces around."), field="sku")
        with unit_of_work(keep_loaded=True):
            [(product, status)] = products.save_products([{**body, "sku": sku}], actor=api_actor(), path=_field)
            answer = product_out(product)
        return answer, 201 if status == "created" else 200


def _field(_index: int, name: str) -> str:
    return name


@blp.route("/batch")
class ProductBatch(MethodView):
    @require_scope("products:write")
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(ProductBatchSchema)
    @blp.response(200, ProductBatchOutSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def post(self, body):
        """Create or replace up to 1,000 products, all or nothing; each refused field is named (items.3.gtin)."""
        saved = products.save_products(body["items"], actor=api_actor())
        counts = {status: sum(1 for _, s in saved if s == status) for status in ("created", "updated", "unchanged")}
        return counts | {"items": [{"sku": p.sku, "status": s} for p, s in saved]}
