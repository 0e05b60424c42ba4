from tests.browser import browser as browser
from tests.tiler.conftest import shared_slides as shared_slides
