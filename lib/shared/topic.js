/**
 * The helpers `platform.topic(name)` returns, bound to one topic. Shared by the
 * runtime's platform and the test environment's fake platform.
 * @param {(topic: string, event: string, data?: unknown) => unknown} publish
 * @param {string} name
 */
export function topicHelpers(publish, name) {
  return {
    publish: (event, data) => publish(name, event, data),
    created: (data) => publish(name, 'created', data),
    updated: (data) => publish(name, 'updated', data),
    deleted: (data) => publish(name, 'deleted', data),
    set: (value) => publish(name, 'set', value),
    increment: (amount = 1) => publish(name, 'increment', amount),
    decrement: (amount = 1) => publish(name, 'decrement', amount),
  };
}
