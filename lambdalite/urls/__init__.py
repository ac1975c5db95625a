"""Function URLs: configurations (Create/Get/Update/Delete/ListFunctionUrlConfigs), the
resource-policy statements that open them to other accounts, and the HTTP endpoint that
turns a request into AWS's payload format 2.0 event and the result back into a response.

`FunctionUrls` is the entry point. Design: docs/decisions/0501-function-urls.md.
"""

from lambdalite.urls.function_urls import FunctionUrls

__all__ = ["FunctionUrls"]
