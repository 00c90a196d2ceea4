// An in-memory message store (the demo has no database).
const messages = [];
let nextId = 1;

export function latest(n) {
  return messages.slice(-n);
}

export function add(author, text) {
  const message = { id: nextId++, author, text, at: Date.now() };
  messages.push(message);
  if (messages.length > 500) messages.shift();
  return message;
}

export function remove(id, author) {
  const index = messages.findIndex((m) => m.id === id && m.author === author);
  return index === -1 ? null : messages.splice(index, 1)[0];
}
