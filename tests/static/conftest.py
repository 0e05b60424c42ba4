from tests.tiler.conftest import shared_slides as shared_slides
