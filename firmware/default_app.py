# The factory app (frozen on boards): what runs until a SUIT update installs
# another one into component "app" (firmware/hg_device.py loads it). An app
# sets VERSION and may define setup(device) to add OSCORE resources.
from coap_msg import CF_TEXT, CONTENT, response

VERSION = "1.0.0"


def _hello(req):
    return response(CONTENT, b"hello from app " + VERSION.encode(), CF_TEXT)


def setup(device):
    device.add("hello", _hello, rt="hg.app", ct=CF_TEXT)
