// The live plot of test.html: opens a WebSocket to /data, reads lines
// "series x y" and draws the last 200 points of each series on a canvas,
// as the original page did with flot (a red line over an orange fill, the
// y axis starting at 0). No libraries.
(function () {
  'use strict';

  if (typeof WebSocket !== 'function') {
    document.body.innerHTML =
      '<h2><center>ERROR: This browser does not support Web Sockets</center></h2>';
    return;
  }

  var WINDOW = 200;
  var LINE = 'rgba(255, 0, 0, 0.8)';
  var FILL = 'rgba(255, 162, 0, 0.6)';

  var canvas = document.getElementById('placeholder');
  var status = document.getElementById('status');
  var count = document.getElementById('count');
  var button = document.getElementById('start');
  var socket = null;
  var series = {};
  var received = 0;

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = kind || '';
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth;
    var height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);

    var all = [];
    Object.keys(series).forEach(function (key) {
      all = all.concat(series[key].slice(-WINDOW));
    });
    var pad = { left: 36, right: 10, top: 10, bottom: 22 };
    var plotW = width - pad.left - pad.right;
    var plotH = height - pad.top - pad.bottom;
    var xMin = 0, xMax = 1, yMax = 1;
    if (all.length) {
      xMin = Math.min.apply(null, all.map(function (p) { return p[0]; }));
      xMax = Math.max.apply(null, all.map(function (p) { return p[0]; }));
      yMax = Math.max(1, Math.max.apply(null, all.map(function (p) { return p[1]; })));
      if (xMax === xMin) { xMax = xMin + 1; }
    }
    var sx = function (x) { return pad.left + (x - xMin) / (xMax - xMin) * plotW; };
    var sy = function (y) { return pad.top + plotH - y / yMax * plotH; };

    // Grid and labels.
    ctx.strokeStyle = '#eee';
    ctx.fillStyle = '#666';
    ctx.lineWidth = 1;
    ctx.font = '11px sans-serif';
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (var i = 0; i <= 4; i++) {
      var y = yMax * i / 4;
      ctx.beginPath();
      ctx.moveTo(pad.left, sy(y));
      ctx.lineTo(pad.left + plotW, sy(y));
      ctx.stroke();
      ctx.fillText(y.toFixed(2), pad.left - 4, sy(y));
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (var j = 0; j <= 4; j++) {
      var x = xMin + (xMax - xMin) * j / 4;
      ctx.fillText(Math.round(x), sx(x), pad.top + plotH + 4);
    }

    // Each series: the fill down to y = 0, then the line on top.
    Object.keys(series).forEach(function (key) {
      var points = series[key].slice(-WINDOW);
      if (points.length < 2) { return; }
      ctx.beginPath();
      ctx.moveTo(sx(points[0][0]), sy(0));
      points.forEach(function (p) { ctx.lineTo(sx(p[0]), sy(p[1])); });
      ctx.lineTo(sx(points[points.length - 1][0]), sy(0));
      ctx.closePath();
      ctx.fillStyle = FILL;
      ctx.fill();
      ctx.beginPath();
      points.forEach(function (p, k) {
        if (k === 0) { ctx.moveTo(sx(p[0]), sy(p[1])); } else { ctx.lineTo(sx(p[0]), sy(p[1])); }
      });
      ctx.strokeStyle = LINE;
      ctx.lineWidth = 5;
      ctx.lineJoin = 'round';
      ctx.stroke();
    });
  }

  function start() {
    if (socket && socket.readyState <= 1) {
      socket.onclose = null;
      socket.close();
    }
    series = {};
    received = 0;
    count.textContent = '0';
    draw();
    var url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/data';
    setStatus('Connecting to ' + url + ' …');
    button.disabled = true;
    var ws = new WebSocket(url);
    socket = ws;
    ws.onopen = function () {
      setStatus('Connected: receiving points…');
      ws.send('hi');
    };
    ws.onmessage = function (e) {
      var lines = e.data.split('\n');
      for (var i = 0; i < lines.length - 1; i++) {
        var parts = lines[i].split(' ');
        var key = parts[0], x = parseFloat(parts[1]), y = parseFloat(parts[2]);
        if (isNaN(x) || isNaN(y)) { continue; }
        (series[key] = series[key] || []).push([x, y]);
        received += 1;
      }
      count.textContent = String(received);
      draw();
      ws.send('');
    };
    ws.onclose = function (e) {
      button.disabled = false;
      button.value = 'Start Plot again';
      if (e.wasClean && e.code === 1000) {
        setStatus('Done: the server sent ' + received + ' points and closed the connection.', 'done');
      } else if (received === 0 && !e.wasClean) {
        setStatus('Could not reach the server (is it still running?).', 'error');
      } else {
        setStatus('The server went away after ' + received + ' points (code ' + e.code + ').', 'error');
      }
    };
  }

  button.addEventListener('click', start);
  window.addEventListener('resize', draw);
  draw();
})();
