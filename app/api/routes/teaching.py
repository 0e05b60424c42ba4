"""Teaching collections, self-assessment and conferences (`app.services.teaching`).

Contract: `POST /api/teaching/collections` `{"name"}` → 201 `{"id", ...}`
(pathologists); `POST /api/teaching/collections/{id}/items` `{"case": ID}` or
`{"slide": ID}` → 201 with `"slides": [copy ids]`; `GET /api/teaching/collections/{id}`
lists the items and their copies' slide ids. Copies are ordinary slide ids for
`/api/slides/{id}`, Deep Zoom and IIIF.
"""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request

from app.api.deps import ContextDep, SettingsDep, get_dispatcher
from app.models.teaching import (
    AnswerCreate,
    ClassAnswers,
    CollectionCreate,
    CollectionPublic,
    ItemCreate,
    ItemPublic,
)
from app.services.teaching import answers, collections

router = APIRouter(prefix="/api/teaching", tags=["teaching"])


@router.post("/collections", status_code=201)
def create_collection(data: CollectionCreate, ctx: ContextDep) -> CollectionPublic:
    row = collections.create(ctx, data)
    return CollectionPublic.model_validate(row, update={"items": []})


@router.get("/collections")
def list_collections(ctx: ContextDep) -> list[CollectionPublic]:
    return collections.listing(ctx)


@router.get("/collections/{collection_id}")
def get_collection(collection_id: str, ctx: ContextDep) -> CollectionPublic:
    """Items in order with their copies' slide ids; the expert's diagnosis for teachers,
    and for a trainee on the items they answered."""
    return collections.describe(ctx, collection_id)


@router.post("/collections/{collection_id}/items", status_code=201)
async def add_item(
    collection_id: str, data: ItemCreate, request: Request, ctx: ContextDep, settings: SettingsDep
) -> ItemPublic:
    """De-identified copies of a reported case's slides, or of one slide: 422 with the
    reason for a format that cannot be rewritten (nothing is copied then)."""
    added = await anyio.to_thread.run_sync(collections.add_item, ctx, settings, collection_id, data)
    dispatcher = get_dispatcher(request)
    for job in added.jobs:
        await anyio.to_thread.run_sync(dispatcher.notify, job, 0)
    return collections.item_public(added.item, added.slides, ctx.user, None, 0)


@router.get("/collections/{collection_id}/answers")
def class_answers(collection_id: str, ctx: ContextDep) -> ClassAnswers:
    """Teachers: the class's answers and each trainee's progress; a trainee: their own."""
    return answers.class_answers(ctx, collection_id)


@router.get("/items/{item_id}")
def get_item(item_id: str, ctx: ContextDep) -> ItemPublic:
    return answers.read_item(ctx, item_id)


@router.post("/items/{item_id}/answer", status_code=201)
def answer_item(item_id: str, data: AnswerCreate, ctx: ContextDep) -> ItemPublic:
    """A trainee's diagnosis (once); answers with the expert's beside it."""
    return answers.answer(ctx, item_id, data)


@router.get("/items/{item_id}/annotations")
def expert_annotations(item_id: str, ctx: ContextDep) -> dict[str, Any]:
    """`{"slides": {copy id: FeatureCollection}}`, once the trainee answered."""
    return answers.expert_annotations(ctx, item_id)
