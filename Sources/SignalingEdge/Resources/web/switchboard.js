// switchboard.js — browser client for Switchboard signaling (protocol v1, docs/signaling-protocol.md).
// No build step, no dependencies. Usage:
//   const sb = new Switchboard({ url: location.origin, token });   // token optional when the server runs open
//   sb.on('signal', f => ...); await sb.connect(); const joined = await sb.join('room');
//   sb.signal('room', peerId, data); sb.broadcast('room', data); const ms = await sb.ping();
// Reconnects by itself with resume (exponential backoff) and falls back from WebSocket to long polling.
(function (global) {
  'use strict';

  const FATAL = new Set([1002, 1003, 1007, 1009, 4000, 4001, 4002, 4006, 4007, 4011, 4012]);
  const RESUME_LOST = new Set([4003, 4004, 4005, 4010]);

  class SwitchboardError extends Error {
    constructor(code, message, frame) { super(message); this.code = code; this.frame = frame; }
  }

  class WebSocketTransport {
    constructor(base, query, handlers) {
      const url = new URL('/v1/ws', base);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null) url.searchParams.set(k, v);
      this.kind = 'websocket';
      this.opened = false;
      this.ws = new WebSocket(url.toString());
      this.ws.onopen = () => { this.opened = true; handlers.open(); };
      this.ws.onmessage = (e) => { if (typeof e.data === 'string') handlers.frame(JSON.parse(e.data)); };
      this.ws.onclose = (e) => handlers.close(e.code, e.reason, this.opened);
    }
    send(frame) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame)); }
    close(code, reason) { try { this.ws.close(code || 1000, reason || 'bye'); } catch (_) { /* already closed */ } }
  }

  class LongPollTransport {
    constructor(base, query, handlers) {
      this.kind = 'poll';
      this.base = base;
      this.handlers = handlers;
      this.closed = false;
      this.queue = Promise.resolve();
      const body = {};
      if (query.token) body.token = query.token;
      if (query.resume) { body.resume = query.resume; body.last = Number(query.last); }
      fetch(new URL('/v1/poll/session', base), { method: 'POST', body: JSON.stringify(body),
        headers: { 'content-type': 'application/json' } })
        .then(async (r) => {
          const json = await r.json();
          // 410: the session to resume is gone; 503: the server drains (4013); 429: this address holds as many
          // sessions as it may (4014). None is the token's fault.
          if (r.status === 410 || r.status === 503 || r.status === 429) return this.finish(json.code ?? 4014, json.reason ?? json.error, false);
          if (!r.ok) return this.finish(4001, json.error || 'refused', false);
          this.poll = json.poll;
          this.opened = true;
          handlers.open();
          this.loop();
        })
        .catch(() => this.finish(1006, 'network error', false));
    }
    async loop() {
      while (!this.closed) {
        let r;
        try {
          r = await fetch(new URL('/v1/poll/' + this.poll, this.base), { cache: 'no-store' });
        } catch (_) { return this.finish(1006, 'network error', true); }
        if (r.status === 410) { const j = await r.json(); return this.finish(j.code, j.reason, true); }
        if (!r.ok) return this.finish(4003, 'resume-failed', true);
        const frames = await r.json();
        for (const f of frames) { if (this.closed) return; this.handlers.frame(f); }
      }
    }
    send(frame) {
      if (this.closed || !this.poll) return;
      // Chained so frames reach the server in the order they were sent.
      this.queue = this.queue.then(() => fetch(new URL('/v1/poll/' + this.poll, this.base), {
        method: 'POST', body: JSON.stringify([frame]), headers: { 'content-type': 'application/json' } })).catch(() => {});
    }
    close() {
      if (this.closed) return;
      // keepalive: the DELETE must survive the page unloading, or the peer lingers until the resume window ends.
      if (this.poll) fetch(new URL('/v1/poll/' + this.poll, this.base), { method: 'DELETE', keepalive: true }).catch(() => {});
      this.finish(1000, 'bye', true);
    }
    finish(code, reason, opened) {
      if (this.closed) return;
      this.closed = true;
      this.handlers.close(code, reason, opened);
    }
  }

  class Switchboard {
    constructor(options = {}) {
      this.url = options.url || global.location.origin;
      this.token = options.token || undefined;
      this.transportChoice = options.transport || 'auto'; // 'auto' | 'websocket' | 'poll'
      this.maxBackoff = options.maxBackoff || 15000;
      this.listeners = {};
      this.pending = new Map();
      this.nextId = 1;
      this.lastSeq = 0;
      this.rooms = new Map(); // room -> meta, re-joined after a session is lost
      this.state = 'idle';
      this.attempt = 0;
      this.webSocketFailures = 0;
      // Browsers close a WebSocket with 1001 when a page goes away; long polling has to say so itself.
      if (global.addEventListener) global.addEventListener('pagehide', () => { if (this.wanted) this.close(); });
    }

    on(type, fn) { (this.listeners[type] = this.listeners[type] || []).push(fn); return this; }
    off(type, fn) { this.listeners[type] = (this.listeners[type] || []).filter((f) => f !== fn); }
    emit(type, value) { for (const fn of this.listeners[type] || []) { try { fn(value); } catch (e) { console.error(e); } } }

    get transportKind() { return this.transport ? this.transport.kind : null; }

    connect() {
      this.wanted = true;
      return new Promise((resolve, reject) => { this.connectWaiter = { resolve, reject }; this.open(); });
    }

    open() {
      const useWebSocket = this.transportChoice === 'websocket' ||
        (this.transportChoice === 'auto' && this.webSocketFailures < 2 && 'WebSocket' in global);
      const query = { token: this.token };
      if (this.resumeToken) { query.resume = this.resumeToken; query.last = this.lastSeq; }
      this.setState(this.resumeToken ? 'resuming' : 'connecting');
      const Transport = useWebSocket ? WebSocketTransport : LongPollTransport;
      const transport = new Transport(this.url, query, {
        open: () => {},
        frame: (f) => { if (this.transport === transport) this.receive(f); },
        close: (code, reason, opened) => { if (this.transport === transport) this.closed(code, reason, opened, transport.kind); },
      });
      this.transport = transport;
    }

    receive(frame) {
      if (frame.seq) {
        if (frame.seq <= this.lastSeq) return; // already seen before a resume
        this.lastSeq = frame.seq;
      }
      switch (frame.type) {
        case 'welcome':
          this.session = frame.session;
          this.user = frame.user;
          this.resumeToken = frame.resume;
          this.attempt = 0;
          this.setState('open');
          if (!frame.resumed) this.rejoin();
          if (this.connectWaiter) { this.connectWaiter.resolve(frame); this.connectWaiter = null; }
          break;
        case 'ack': {
          const p = this.pending.get(frame.id);
          if (p) { this.pending.delete(frame.id); p.resolve(p.result || frame); }
          break;
        }
        case 'joined': {
          const p = [...this.pending.values()].find((x) => x.room === frame.room && x.type === 'join');
          if (p) p.result = frame;
          break;
        }
        case 'pong': {
          const p = this.pending.get(frame.id);
          if (p) p.result = frame;
          break;
        }
        case 'error': {
          const p = frame.ref !== undefined && this.pending.get(frame.ref);
          if (p) { this.pending.delete(frame.ref); p.reject(new SwitchboardError(frame.code, frame.message, frame)); }
          break;
        }
      }
      this.emit(frame.type, frame);
      this.emit('frame', frame);
    }

    closed(code, reason, opened, kind) {
      this.transport = null;
      if (!opened && kind === 'websocket') this.webSocketFailures += 1;
      // A draining server refuses a new WebSocket before the upgrade, which a page sees only as a failed
      // handshake: once long polling hears "draining", WebSocket is not what failed.
      if (code === 4013) this.webSocketFailures = 0;
      if (!this.wanted || FATAL.has(code)) {
        this.setState('closed');
        this.failPending(new SwitchboardError('closed', `${code} ${reason}`));
        if (this.connectWaiter) { this.connectWaiter.reject(new SwitchboardError(code, reason)); this.connectWaiter = null; }
        this.emit('close', { code, reason });
        return;
      }
      if (RESUME_LOST.has(code)) {
        // The session is gone: start a new one and join the same rooms again.
        this.resumeToken = null;
        this.lastSeq = 0;
        this.emit('reset', { code, reason });
      }
      this.failPending(new SwitchboardError('disconnected', `${code} ${reason}`));
      const delay = Math.min(this.maxBackoff, 250 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
      this.attempt += 1;
      this.setState('reconnecting');
      this.emit('reconnecting', { code, reason, delay });
      setTimeout(() => { if (this.wanted) this.open(); }, delay);
    }

    failPending(error) {
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    }

    setState(state) { this.state = state; this.emit('state', state); }

    request(frame) {
      return new Promise((resolve, reject) => {
        if (!this.transport || this.state !== 'open') return reject(new SwitchboardError('disconnected', 'not connected'));
        const id = this.nextId++;
        this.pending.set(id, { resolve, reject, room: frame.room, type: frame.type });
        this.transport.send({ ...frame, id });
      });
    }

    async join(room, meta) {
      const joined = await this.request({ type: 'join', room, meta });
      this.rooms.set(room, meta);
      return joined;
    }

    rejoin() {
      for (const [room, meta] of this.rooms) this.request({ type: 'join', room, meta }).catch((e) => this.emit('error', e));
    }

    leave(room) { this.rooms.delete(room); return this.request({ type: 'leave', room }); }
    signal(room, to, data) { return this.request({ type: 'signal', room, to, data }); }
    signalUser(room, toUser, data) { return this.request({ type: 'signal', room, toUser, data }); }
    broadcast(room, data, options = {}) { return this.request({ type: 'broadcast', room, data, includeSelf: !!options.includeSelf }); }

    /** Round trip of the signaling path in milliseconds. */
    async ping() {
      const start = performance.now();
      await this.request({ type: 'ping', time: start });
      return performance.now() - start;
    }

    close() {
      this.wanted = false;
      if (this.transport) this.transport.close(1000, 'bye');
      else this.setState('closed');
    }
  }

  Switchboard.Error = SwitchboardError;
  global.Switchboard = Switchboard;
})(typeof window !== 'undefined' ? window : globalThis);
