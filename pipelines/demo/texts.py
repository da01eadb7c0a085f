"""Prose and tables of the embedded demo corpus: short encyclopedic articles written for mmcorpus.

Each article is (title, [paragraphs]); tables are (caption, header, rows). Facts are common knowledge.
"""
from __future__ import annotations

Article = tuple[str, list[str]]
Table = tuple[str, list[str], list[list[str]]]

ARTICLES: list[Article] = [
    ("The Water Cycle", [
        "The water cycle describes how water moves between the oceans, the atmosphere and the land. "
        "Heat from the Sun evaporates water from the surface of seas, lakes and rivers, and plants release "
        "water vapour through their leaves in a process called transpiration. Together these two flows carry "
        "roughly half a million cubic kilometres of water into the air every year.",
        "As moist air rises it expands and cools. When it cools below its dew point, the vapour condenses on "
        "tiny particles of dust, salt or smoke and forms the droplets that make up clouds. When droplets "
        "collide and grow heavy enough, they fall as rain, snow, sleet or hail.",
        "Most precipitation falls back into the oceans. The part that reaches land may run off into streams, "
        "soak into the soil, or be stored for long periods in glaciers, ice sheets and deep aquifers. "
        "Groundwater can remain underground for thousands of years before it seeps into a river or spring.",
        "The cycle redistributes heat as well as water. Evaporation absorbs energy near the surface, and "
        "condensation releases it high in the atmosphere, which powers thunderstorms and tropical cyclones. "
        "Changes in temperature alter how much vapour the air can hold, so a warming climate tends to "
        "intensify both droughts and heavy downpours.",
    ]),
    ("The Printing Press", [
        "Around 1440 the goldsmith Johannes Gutenberg of Mainz developed a system of printing with movable "
        "metal type. His key inventions were a hand mould that could cast large numbers of identical letters, "
        "an alloy of lead, tin and antimony that melted at a low temperature, and an oil-based ink that "
        "adhered to metal better than the water-based inks used for woodblocks.",
        "Gutenberg adapted the screw press, long used for pressing grapes and olives, to push paper evenly "
        "against the inked type. The Bible he completed around 1455 was admired for its even lines and "
        "clear black letters, and about fifty copies survive today.",
        "Printing spread quickly. By 1500 presses were operating in more than two hundred European towns, and "
        "millions of books had been produced. Cheaper books helped standardise spelling and grammar, "
        "supported the growth of universities, and allowed new ideas in religion and science to circulate "
        "far faster than hand copying had ever permitted.",
    ]),
    ("Photosynthesis", [
        "Photosynthesis is the process by which plants, algae and some bacteria convert light energy into "
        "chemical energy. In the chloroplasts of a leaf, the green pigment chlorophyll absorbs mainly blue "
        "and red light and reflects green, which is why most plants look green to us.",
        "The process has two linked stages. In the light-dependent reactions, absorbed energy splits water "
        "molecules, releasing oxygen as a by-product and producing the energy carriers ATP and NADPH. In the "
        "Calvin cycle, which does not need light directly, the enzyme RuBisCO fixes carbon dioxide from the "
        "air, and the stored energy is used to build sugars.",
        "Nearly all the oxygen in the atmosphere was produced by photosynthesis, beginning with "
        "cyanobacteria more than two billion years ago. Today photosynthetic organisms capture about one "
        "hundred billion tonnes of carbon each year, forming the base of almost every food chain on Earth.",
    ]),
    ("Plate Tectonics", [
        "The outer shell of the Earth, the lithosphere, is broken into a number of large plates that move "
        "slowly over the softer mantle beneath them. Typical speeds are a few centimetres per year, about as "
        "fast as fingernails grow.",
        "Where plates move apart, at mid-ocean ridges, molten rock rises and forms new oceanic crust. Where "
        "they converge, one plate may sink beneath another in a subduction zone, producing deep ocean "
        "trenches, chains of volcanoes and powerful earthquakes. Where two continents collide, neither sinks "
        "easily, and the crust is pushed up into mountain ranges such as the Himalaya.",
        "The theory grew out of Alfred Wegener's idea of continental drift, proposed in 1912. It was widely "
        "accepted only in the 1960s, after surveys of the sea floor revealed symmetric stripes of magnetised "
        "rock on either side of the ridges, a record of the periodic reversals of the Earth's magnetic field.",
    ]),
    ("Roman Aqueducts", [
        "The city of Rome was supplied by eleven aqueducts built over about five centuries, the first of them, "
        "the Aqua Appia, in 312 BC. Together they delivered a volume of water that modern estimates place at "
        "several hundred thousand cubic metres per day.",
        "Most of an aqueduct's length ran underground in channels cut through rock or built of masonry. The "
        "famous rows of arches were used only where the channel had to cross a valley while keeping its "
        "steady downhill gradient, which could be less than one metre per kilometre.",
        "Water flowed by gravity alone into distribution tanks, and from there to public fountains, baths "
        "and, for a fee, private houses. The engineer Frontinus, appointed water commissioner in AD 97, wrote "
        "a treatise describing the system and complaining about illegal taps that stole its water.",
    ]),
    ("Honey Bees", [
        "A honey bee colony is a family of a single queen, tens of thousands of female workers and, in "
        "summer, a few hundred males called drones. The queen lays all the eggs; the workers build comb, "
        "raise the young, guard the entrance and gather food.",
        "Foragers that find a rich source of nectar return to the hive and perform a waggle dance on the "
        "comb. The angle of the dance relative to vertical indicates the direction of the flowers relative "
        "to the Sun, and the length of the waggle run indicates the distance. Karl von Frisch decoded this "
        "language and shared a Nobel Prize for the work in 1973.",
        "Bees turn nectar into honey by adding enzymes and fanning it with their wings until most of the "
        "water evaporates. A colony may store more than twenty kilograms of honey to survive the winter, "
        "when the bees cluster together and shiver their flight muscles to keep the queen warm.",
    ]),
    ("The Telescope", [
        "The first telescopes appeared in the Netherlands in 1608, when spectacle makers found that two "
        "lenses held at the right distance made distant objects look closer. Within a year Galileo Galilei "
        "had built his own instruments and turned them to the sky.",
        "Galileo saw mountains on the Moon, the phases of Venus and four moons orbiting Jupiter, observations "
        "that supported the idea that the Earth is not the centre of every motion. Early refracting "
        "telescopes suffered from colour fringes, because a simple lens bends each colour by a different "
        "amount.",
        "Isaac Newton avoided this problem in 1668 by using a curved mirror instead of a lens. Reflecting "
        "telescopes could be made much larger, and today's great observatories use mirrors many metres "
        "across, some built from dozens of hexagonal segments aligned by computer.",
    ]),
    ("The Silk Road", [
        "The Silk Road was a network of overland trade routes that linked China with Central Asia, Persia, "
        "the Middle East and the Mediterranean. It took its modern name from the Chinese silk that was among "
        "its most prized goods, but caravans also carried spices, glass, horses, paper and precious metals.",
        "Few merchants travelled the whole distance. Goods passed from hand to hand through oasis cities "
        "such as Samarkand, Kashgar and Dunhuang, where markets, inns and monasteries served travellers. "
        "Along with goods moved religions, languages, artistic styles and technologies, including "
        "papermaking, which reached the Islamic world in the eighth century.",
        "The routes flourished under the Han and Tang dynasties and again under the Mongol empire, when the "
        "Venetian traveller Marco Polo is said to have reached the court of Kublai Khan.",
    ]),
    ("Lighthouses", [
        "The Pharos of Alexandria, completed in the third century BC, was one of the wonders of the ancient "
        "world and stood for more than a thousand years. For most of history, however, lighthouses burned "
        "wood, coal or candles, and their light was weak and easily lost in bad weather.",
        "In 1822 the French physicist Augustin Fresnel designed a lens built from concentric rings of glass "
        "prisms. It gathered light from a single lamp into a narrow, intense beam that could be seen more than "
        "twenty nautical miles away, while weighing far less than a solid lens of the same size.",
        "Each lighthouse was given a characteristic pattern of flashes so that sailors could identify it at "
        "night. Today most lights are automated, and satellite navigation has reduced their importance, but "
        "many remain in service as a reliable backup.",
    ]),
    ("The Periodic Table", [
        "In 1869 the Russian chemist Dmitri Mendeleev arranged the known chemical elements in order of "
        "increasing atomic weight and noticed that their properties repeated at regular intervals. He "
        "placed similar elements in the same column and boldly left gaps for elements that had not yet been "
        "discovered.",
        "Mendeleev predicted the properties of three missing elements in detail. When gallium, scandium and "
        "germanium were found over the following seventeen years and matched his predictions, the table "
        "was accepted as a fundamental tool of chemistry.",
        "The modern table orders elements by atomic number, the number of protons in the nucleus, a quantity "
        "identified by Henry Moseley in 1913. Its rows, called periods, correspond to the filling of electron "
        "shells, which explains why elements in the same group form similar compounds.",
    ]),
    ("Volcanoes", [
        "A volcano is an opening in the crust through which molten rock, gases and ash escape from below. "
        "Molten rock underground is called magma; once it reaches the surface it is called lava.",
        "The character of an eruption depends largely on the magma's viscosity and gas content. Runny basalt "
        "magma, common in Hawaii and Iceland, releases gas easily and produces flowing lava and broad shield "
        "volcanoes. Thick, silica-rich magma traps gas until it bursts out explosively, as at Mount Vesuvius "
        "in AD 79 and Mount St. Helens in 1980.",
        "Large eruptions can affect the climate. The eruption of Tambora in Indonesia in 1815 threw so much "
        "sulphur into the stratosphere that 1816 became known in Europe and North America as the year "
        "without a summer.",
    ]),
    ("Coral Reefs", [
        "Coral reefs are built by colonies of tiny animals called polyps, which secrete skeletons of calcium "
        "carbonate. Over thousands of years these skeletons accumulate into structures large enough to be "
        "seen from space; the Great Barrier Reef stretches for more than two thousand kilometres.",
        "Reef-building corals live in partnership with microscopic algae that dwell inside their tissues. "
        "The algae photosynthesise and share sugars with their hosts, which is why reefs grow mainly in "
        "clear, shallow, sunlit tropical water.",
        "When the water becomes too warm, corals expel their algae and turn white, an event known as "
        "bleaching. Reefs cover less than one percent of the ocean floor, yet they shelter roughly a quarter "
        "of all known marine species.",
    ]),
    ("The Steam Engine", [
        "Thomas Newcomen built the first practical steam engine in 1712 to pump water out of mines. Steam "
        "filled a cylinder and was then condensed by a spray of cold water, creating a partial vacuum that "
        "let the pressure of the atmosphere push a piston down.",
        "James Watt greatly improved the design after 1765 by condensing the steam in a separate chamber, so "
        "that the cylinder could stay hot. His engines used about a quarter of the coal of Newcomen's, and "
        "with a sun-and-planet gear they could turn wheels as well as work pumps.",
        "Steam power drove the mills, locomotives and ships of the Industrial Revolution. The unit of power, "
        "the watt, is named in Watt's honour.",
    ]),
    ("The Human Heart", [
        "The human heart is a muscular pump about the size of a fist. It has four chambers: two atria that "
        "receive blood and two ventricles that push it out. Valves between the chambers keep the blood "
        "flowing in one direction.",
        "The right side of the heart sends blood to the lungs, where it releases carbon dioxide and picks up "
        "oxygen. The left side pumps the oxygen-rich blood through the aorta to the rest of the body. At rest "
        "an adult heart beats sixty to a hundred times a minute and moves about five litres of blood.",
        "Each beat starts with an electrical impulse from the sinoatrial node, a small cluster of cells in "
        "the wall of the right atrium that acts as a natural pacemaker. William Harvey first described the "
        "circulation of the blood in 1628.",
    ]),
    ("Tides", [
        "Tides are the regular rise and fall of the sea caused mainly by the gravitational pull of the Moon. "
        "The Moon pulls hardest on the side of the Earth nearest to it, and least on the far side, which "
        "produces two bulges of water and, at most coasts, two high tides a day.",
        "The Sun has a similar but weaker effect. When Sun, Moon and Earth are aligned, at new and full moon, "
        "their pulls combine to give the large spring tides; when they are at right angles, the smaller neap "
        "tides follow.",
        "The shape of coastlines can amplify the tide greatly. In the Bay of Fundy in Canada the difference "
        "between high and low water can exceed fifteen metres.",
    ]),
]

TABLES: list[Table] = [
    ("Table 1. The planets of the Solar System.",
     ["Planet", "Diameter (km)", "Distance (AU)", "Moons"],
     [["Mercury", "4,879", "0.39", "0"], ["Venus", "12,104", "0.72", "0"], ["Earth", "12,756", "1.00", "1"],
      ["Mars", "6,792", "1.52", "2"], ["Jupiter", "142,984", "5.20", "95"], ["Saturn", "120,536", "9.54", "146"],
      ["Uranus", "51,118", "19.19", "28"], ["Neptune", "49,528", "30.07", "16"]]),
    ("Table 2. Some common chemical elements.",
     ["Element", "Symbol", "Atomic number", "Discovered"],
     [["Hydrogen", "H", "1", "1766"], ["Carbon", "C", "6", "antiquity"], ["Oxygen", "O", "8", "1774"],
      ["Sodium", "Na", "11", "1807"], ["Iron", "Fe", "26", "antiquity"], ["Gallium", "Ga", "31", "1875"],
      ["Germanium", "Ge", "32", "1886"]]),
    ("Table 3. The highest mountains on each continent.",
     ["Continent", "Mountain", "Height (m)"],
     [["Asia", "Everest", "8,849"], ["South America", "Aconcagua", "6,961"], ["North America", "Denali", "6,190"],
      ["Africa", "Kilimanjaro", "5,895"], ["Europe", "Elbrus", "5,642"], ["Antarctica", "Vinson", "4,892"]]),
]

EUCLID: Article = ("Euclid's Algorithm", [
    "The oldest algorithm still in common use finds the greatest common divisor of two whole numbers. It "
    "appears in Book VII of Euclid's Elements, written around 300 BC. Any divisor of two numbers also divides "
    "their difference, so the larger number can be replaced by its remainder after division by the smaller, "
    "again and again, until the remainder is zero; the last non-zero number is the answer.",
])

CODE: list[str] = [
    "def gcd(a, b):",
    "    # Euclid's algorithm: the greatest common divisor",
    "    while b != 0:",
    "        a, b = b, a % b",
    "    return a",
    "",
    "print(gcd(1071, 462))  # prints 21",
]
