"""Teaching collections, self-assessment and conferences (`app.services.teaching`).

Contract: `POST /api/teaching/collections` `{"name"}` → 201 `{"id", ...}`
(pathologists); `POST /api/teaching/collections/{id}/items` `{"case": ID}` or
`{"slide": ID}` → 201 with `"slides": [copy ids]`; `GET /api/teaching/collections/{id}`
lists the items and their copies' slide ids. Copies are ordinary slide ids for
`/api/slides/{id}`, Deep Zoom and IIIF.
"""

from __future__ import annotations

import uuid
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from app.api.deps import ContextDep, SettingsDep, get_dispatcher, get_hub, request_context
from app.api.stream_access import hub_stream, open_stream
from app.models.teaching import (
    AnswerCreate,
    ClassAnswers,
    CollectionCreate,
    CollectionPublic,
    ConferenceCreate,
    ConferencePublic,
    ConferenceView,
    HandRequest,
    ItemCreate,
    ItemPublic,
    PointerRequest,
    StepPublic,
)
from app.services.context import Context
from app.services.streams import StreamLeases
from app.services.teaching import answers, collections, conference

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


# --- conferences ---------------------------------------------------------------------------


@router.post("/collections/{collection_id}/conferences", status_code=201)
def start_conference(
    collection_id: str, data: ConferenceCreate, ctx: ContextDep
) -> ConferencePublic:
    """A pathologist starts a conference on the collection; they present first."""
    return conference.start(ctx, collection_id, data)


@router.get("/collections/{collection_id}/conferences")
def live_conferences(collection_id: str, ctx: ContextDep) -> list[ConferencePublic]:
    return conference.live_ones(ctx, collection_id)


@router.get("/conferences/{conference_id}")
def get_conference(conference_id: str, ctx: ContextDep) -> ConferencePublic:
    return conference.read(ctx, conference_id)


@router.get("/conferences/{conference_id}/events", response_class=StreamingResponse)
async def conference_events(conference_id: str, request: Request) -> StreamingResponse:
    """`view` (the presenter's view and copy), `room` (participants, hands, who presents),
    `ended`; a `signed-out` event when the credential falls."""

    def admit() -> tuple[Context, uuid.UUID, StreamLeases]:
        ctx = request_context(request)
        key = conference.open_for_stream(ctx, conference_id)
        return ctx, key, open_stream(request, ctx, "conference.follow")

    ctx, key, leases = await anyio.to_thread.run_sync(admit)
    return hub_stream(request, ctx, get_hub(request), key, leases, "conference.follow")


@router.post("/conferences/{conference_id}/join")
def join_conference(conference_id: str, ctx: ContextDep) -> ConferencePublic:
    return conference.join(ctx, conference_id)


@router.post("/conferences/{conference_id}/leave", status_code=204)
def leave_conference(conference_id: str, ctx: ContextDep) -> Response:
    conference.leave(ctx, conference_id)
    return Response(status_code=204)


@router.post("/conferences/{conference_id}/view", status_code=204)
def conference_view(conference_id: str, view: ConferenceView, ctx: ContextDep) -> Response:
    """The presenter's view (the teacher, or whoever holds the pointer)."""
    conference.share_view(ctx, conference_id, view)
    return Response(status_code=204)


@router.post("/conferences/{conference_id}/hand", status_code=204)
def hand(conference_id: str, data: HandRequest, ctx: ContextDep) -> Response:
    conference.raise_hand(ctx, conference_id, data.raised)
    return Response(status_code=204)


@router.post("/conferences/{conference_id}/pointer", status_code=204)
def pointer(conference_id: str, data: PointerRequest, ctx: ContextDep) -> Response:
    """The teacher hands the pointer to a participant (or takes it back: their own name)."""
    conference.hand_over(ctx, conference_id, data.username)
    return Response(status_code=204)


@router.post("/conferences/{conference_id}/end", status_code=204)
def end_conference(conference_id: str, ctx: ContextDep) -> Response:
    conference.end(ctx, conference_id)
    return Response(status_code=204)


@router.get("/conferences/{conference_id}/annotations/{slide_id}")
def conference_annotations(conference_id: str, slide_id: str, ctx: ContextDep) -> dict[str, Any]:
    return conference.copy_annotations(ctx, conference_id, slide_id)


@router.get("/conferences/{conference_id}/walkthrough")
def walkthrough(conference_id: str, ctx: ContextDep) -> list[StepPublic]:
    """The views the room followed, in order: a replayable walkthrough."""
    return conference.walkthrough(ctx, conference_id)
