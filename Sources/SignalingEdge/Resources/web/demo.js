// Demo: one RTCPeerConnection per remote peer, negotiated through Switchboard signaling. The peer that joins later
// makes the offers. `window.demo` exposes the state for the browser interop tests.
(function () {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const demo = window.demo = { peers: {}, received: [], opened: 0, pairs: {}, sb: null, joined: null, errors: [] };

  function log(text) {
    const line = `${new Date().toISOString().slice(11, 23)} ${text}\n`;
    $('log').textContent += line;
    $('log').scrollTop = 1e9;
  }

  for (const key of ['room', 'token']) if (params.has(key)) $(key).value = params.get(key);
  if (params.has('relay')) $('relay').checked = params.get('relay') !== '0';
  if (params.has('transport')) $('transport').value = params.get('transport');

  let localStream = null;

  async function join() {
    $('join').disabled = true;
    const room = $('room').value;
    const sb = demo.sb = new Switchboard({ token: $('token').value || undefined, transport: $('transport').value });
    sb.on('state', (s) => { $('sigState').textContent = s; $('sigTransport').textContent = sb.transportKind || '–'; });
    sb.on('peer-joined', (f) => log(`peer joined: ${f.peer.id} (${f.peer.user})`));
    sb.on('peer-left', (f) => { log(`peer left: ${f.peer} (${f.reason})`); dropPeer(f.peer); });
    sb.on('signal', (f) => onSignal(room, f).catch((e) => log('signal error: ' + e)));
    sb.on('error', (f) => { demo.errors.push(f); log('error: ' + (f.code || '') + ' ' + (f.message || f)); });
    sb.on('close', (f) => log(`signaling closed: ${f.code} ${f.reason}`));
    // A lost session comes back under a new peer id: drop the old calls and call everyone the rejoin lists.
    let rejoining = false;
    sb.on('reset', () => {
      log('session lost; joining again');
      rejoining = true;
      for (const peerId of Object.keys(demo.peers)) dropPeer(peerId);
    });
    sb.on('joined', (f) => {
      if (!rejoining || f.room !== room) return;
      rejoining = false;
      demo.joined = f;
      demo.iceServers = f.iceServers;
      for (const peer of f.peers) call(room, peer.id).catch((e) => log('call failed: ' + e));
    });
    await sb.connect();
    if ($('video').checked) {
      try {
        localStream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
        $('local').srcObject = localStream;
      } catch (e) { log('no camera: ' + e.message); }
    }
    const joined = demo.joined = await sb.join(room, { name: params.get('name') || 'tab' });
    log(`joined ${room} as ${joined.self}; ${joined.peers.length} other peer(s)`);
    demo.iceServers = joined.iceServers;
    for (const peer of joined.peers) await call(room, peer.id, true);
    setInterval(() => measure().catch(() => {}), 1000);
  }

  // ?ice=PREFIX keeps only the ICE server URLs that start with it (e.g. `turns:` to try the TLS relay alone).
  function configuration() {
    const only = params.get('ice');
    const iceServers = !only ? demo.iceServers : demo.iceServers
      .map((server) => ({ ...server, urls: [].concat(server.urls).filter((url) => url.startsWith(only)) }))
      .filter((server) => server.urls.length > 0);
    return { iceServers, iceTransportPolicy: $('relay').checked ? 'relay' : 'all' };
  }

  function peerConnection(room, peerId) {
    if (demo.peers[peerId]) return demo.peers[peerId];
    const pc = new RTCPeerConnection(configuration());
    const entry = demo.peers[peerId] = { pc, channel: null, pendingCandidates: [] };
    pc.onicecandidate = (e) => { if (e.candidate) demo.sb.signal(room, peerId, { kind: 'candidate', candidate: e.candidate.toJSON() }).catch(() => {}); };
    pc.onconnectionstatechange = () => log(`${peerId}: ${pc.connectionState}`);
    pc.ondatachannel = (e) => attachChannel(peerId, e.channel);
    pc.ontrack = (e) => { $('remote').srcObject = e.streams[0]; };
    if (localStream) for (const t of localStream.getTracks()) pc.addTrack(t, localStream);
    return entry;
  }

  function attachChannel(peerId, channel) {
    demo.peers[peerId].channel = channel;
    channel.onopen = () => { demo.opened += 1; log(`data channel to ${peerId} open`); };
    channel.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.ping !== undefined) return channel.send(JSON.stringify({ pong: msg.ping }));
      if (msg.pong !== undefined) { $('dataRtt').textContent = (performance.now() - msg.pong).toFixed(1); return; }
      demo.received.push(msg.text);
      log(`${peerId}: ${msg.text}`);
    };
  }

  async function call(room, peerId) {
    const entry = peerConnection(room, peerId);
    attachChannel(peerId, entry.pc.createDataChannel('chat'));
    await entry.pc.setLocalDescription(await entry.pc.createOffer());
    await demo.sb.signal(room, peerId, { kind: 'offer', sdp: entry.pc.localDescription.sdp });
  }

  async function onSignal(room, frame) {
    const data = frame.data || {};
    const entry = peerConnection(room, frame.from);
    const pc = entry.pc;
    if (data.kind === 'offer') {
      await pc.setRemoteDescription({ type: 'offer', sdp: data.sdp });
      await flushCandidates(entry);
      await pc.setLocalDescription(await pc.createAnswer());
      await demo.sb.signal(room, frame.from, { kind: 'answer', sdp: pc.localDescription.sdp });
    } else if (data.kind === 'answer') {
      await pc.setRemoteDescription({ type: 'answer', sdp: data.sdp });
      await flushCandidates(entry);
    } else if (data.kind === 'candidate') {
      if (pc.remoteDescription) await pc.addIceCandidate(data.candidate);
      else entry.pendingCandidates.push(data.candidate);
    }
  }

  async function flushCandidates(entry) {
    for (const c of entry.pendingCandidates.splice(0)) await entry.pc.addIceCandidate(c);
  }

  function dropPeer(peerId) {
    const entry = demo.peers[peerId];
    if (entry) { entry.pc.close(); delete demo.peers[peerId]; }
  }

  async function measure() {
    $('sigRtt').textContent = (await demo.sb.ping()).toFixed(1);
    for (const [peerId, entry] of Object.entries(demo.peers)) {
      if (entry.channel && entry.channel.readyState === 'open') entry.channel.send(JSON.stringify({ ping: performance.now() }));
      const stats = await entry.pc.getStats();
      let pair = null;
      stats.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId); });
      if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
      if (!pair) continue;
      const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
      const summary = {
        local: local && local.candidateType, remote: remote && remote.candidateType,
        relayProtocol: local && local.relayProtocol, localAddress: local && `${local.address}:${local.port}`,
        remoteAddress: remote && `${remote.address}:${remote.port}`, url: local && local.url, rtt: pair.currentRoundTripTime,
      };
      demo.pairs[peerId] = summary;
      $('pair').textContent = `${summary.local}/${summary.remote} ${summary.relayProtocol || ''} ${summary.localAddress} ⇄ ${summary.remoteAddress}`;
      if (pair.currentRoundTripTime !== undefined) $('iceRtt').textContent = (pair.currentRoundTripTime * 1000).toFixed(1);
    }
  }

  function send() {
    const text = $('message').value || `hello from ${demo.sb && demo.sb.session}`;
    for (const entry of Object.values(demo.peers)) if (entry.channel && entry.channel.readyState === 'open') entry.channel.send(JSON.stringify({ text }));
    log(`me: ${text}`);
    $('message').value = '';
  }
  demo.send = (text) => { $('message').value = text; send(); };

  $('join').onclick = () => join().catch((e) => { demo.errors.push(String(e)); log('join failed: ' + e.message); $('join').disabled = false; });
  $('send').onclick = send;
  if (params.get('autojoin') === '1') $('join').click();
})();
