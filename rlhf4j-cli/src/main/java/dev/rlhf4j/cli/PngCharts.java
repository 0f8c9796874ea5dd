package dev.rlhf4j.cli;

import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.LogAxis;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.StatisticalBarRenderer;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.chart.ChartFactory;
import org.jfree.data.statistics.DefaultStatisticalCategoryDataset;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * PNG charts (the claims' plots, a loop's gold per round), drawn by JFreeChart in headless mode (no display needed):
 * line charts of a quantity along training or against another, and bar charts of means with their spread over seeds.
 */
final class PngCharts {
    static final int WIDTH = 760, HEIGHT = 440;

    static {
        System.setProperty("java.awt.headless", "true");
    }

    /** Distinct colours, so that lines can share one per setting (β) and differ by dash (reward model). */
    private static final Color[] PALETTE = {new Color(0x1f77b4), new Color(0xff7f0e), new Color(0x2ca02c),
        new Color(0xd62728), new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f),
        new Color(0xbcbd22), new Color(0x17becf)};

    /**
     * A line of (x, y) points; {@code markers} draws its points too (for lines of few points), {@code dashed} dashes
     * it, {@code colour} picks from the palette (-1: by the line's position).
     */
    record Line(double[] x, double[] y, boolean markers, boolean dashed, int colour) {
        Line(double[] x, double[] y, boolean markers) {
            this(x, y, markers, false, -1);
        }

        static Line of(double[] x, double[] y) {
            return new Line(x, y, x.length <= 12);
        }

        Line styled(boolean dash, int colourIndex) {
            return new Line(x, y, markers, dash, colourIndex);
        }
    }

    /** A bar: a mean (over seeds, or over prompts) and its spread (a std, or a standard error) as an error bar. */
    record Bar(double mean, double std) {
    }

    private PngCharts() {
    }

    /** A line chart of named lines, written to {@code png}; {@code logX} puts x on a log scale. */
    static void lines(Path png, String title, String xLabel, String yLabel, Map<String, Line> lines, boolean logX)
            throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Map.Entry<String, Line> e : lines.entrySet()) {
            XYSeries s = new XYSeries(e.getKey(), false, true);
            Line l = e.getValue();
            for (int i = 0; i < l.x().length; i++) {
                if (Double.isFinite(l.x()[i]) && Double.isFinite(l.y()[i]) && (!logX || l.x()[i] > 0)) {
                    s.add(l.x()[i], l.y()[i]);
                }
            }
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createXYLineChart(title, xLabel, yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        style(chart);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(true, false);
        int i = 0;
        for (Line l : lines.values()) {
            r.setSeriesShapesVisible(i, l.markers());
            r.setSeriesStroke(i, l.dashed() ? new BasicStroke(2f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f,
                    new float[] {6f, 4f}, 0f) : new BasicStroke(2f));
            r.setSeriesPaint(i, PALETTE[(l.colour() >= 0 ? l.colour() : i) % PALETTE.length]);
            i++;
        }
        plot.setRenderer(r);
        if (logX) {
            LogAxis x = new LogAxis(xLabel);
            x.setBase(2);
            x.setNumberFormatOverride(new java.text.DecimalFormat("#,##0"));
            // a tick at every power of 2 (the automatic ticks fall at powers of √2)
            x.setAutoTickUnitSelection(false);
            x.setTickUnit(new org.jfree.chart.axis.NumberTickUnit(1));
            plot.setDomainAxis(x);
        }
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        write(chart, png);
    }

    /**
     * A scatter chart: one series of points per name (a method's seeds, say), each in its own colour and shape;
     * points that are not finite are left out.
     */
    static void scatter(Path png, String title, String xLabel, String yLabel, Map<String, double[][]> points)
            throws IOException {
        XYSeriesCollection data = new XYSeriesCollection();
        for (Map.Entry<String, double[][]> e : points.entrySet()) {
            XYSeries s = new XYSeries(e.getKey(), false, true);
            for (double[] p : e.getValue()) {
                if (Double.isFinite(p[0]) && Double.isFinite(p[1])) {
                    s.add(p[0], p[1]);
                }
            }
            data.addSeries(s);
        }
        JFreeChart chart = ChartFactory.createScatterPlot(title, xLabel, yLabel, data, PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        style(chart);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        XYLineAndShapeRenderer r = new XYLineAndShapeRenderer(false, true);
        for (int i = 0; i < points.size(); i++) {
            r.setSeriesPaint(i, PALETTE[i % PALETTE.length]);
        }
        plot.setRenderer(r);
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        write(chart, png);
    }

    /** A bar chart of means with their error bars, one group of bars per category. */
    static void bars(Path png, String title, String yLabel, Map<String, Map<String, Bar>> groups) throws IOException {
        DefaultStatisticalCategoryDataset data = new DefaultStatisticalCategoryDataset();
        for (Map.Entry<String, Map<String, Bar>> g : groups.entrySet()) {
            for (Map.Entry<String, Bar> b : g.getValue().entrySet()) {
                data.add(finite(b.getValue().mean()), finite(b.getValue().std()), g.getKey(), b.getKey());
            }
        }
        JFreeChart chart = ChartFactory.createLineChart(title, null, yLabel, data, PlotOrientation.VERTICAL,
                groups.size() > 1, false, false);
        CategoryPlot plot = chart.getCategoryPlot();
        StatisticalBarRenderer r = new StatisticalBarRenderer();
        r.setErrorIndicatorPaint(Color.BLACK);
        r.setDrawBarOutline(false);
        r.setShadowVisible(false);
        r.setBarPainter(new org.jfree.chart.renderer.category.StandardBarPainter());
        plot.setRenderer(r);
        plot.setBackgroundPaint(Color.WHITE);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        style(chart);
        write(chart, png);
    }

    private static double finite(double v) {
        return Double.isFinite(v) ? v : 0;
    }

    private static void style(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.setAntiAlias(true);
    }

    private static void write(JFreeChart chart, Path png) throws IOException {
        Files.createDirectories(png.toAbsolutePath().getParent());
        try {
            ChartUtils.saveChartAsPNG(png.toFile(), chart, WIDTH, HEIGHT);
        } catch (IOException e) {
            throw IoErrors.of("write", png, e);
        }
    }
}
