"""Conversation -> context routing. CONTRACT STUB (implementation in progress).

Public API (fixed):

    router = ContextRouter(client=..., async_client=..., model=..., mode=..., ttl=..., ...)
    rc = router.chat(messages, params)             -> RoutedCompletion
    rc = await router.achat(messages, params)      -> RoutedCompletion
    with router.stream(messages, params) as s:     -> RoutedStream (iterates ChatCompletionChunk)
        for chunk in s: ...
        s.route  (RouteInfo, set before the first chunk is yielded)
        s.usage  (Usage | None, set when the usage chunk arrived)
    async with router.astream(messages, params) as s: async for chunk in s: ...

``messages`` are wire messages built with ``ark_context.wire_message``; ``params`` are
request fields (temperature, max_tokens, stop, ...), only those that are set.
"""
